// Shape of the vendored spec extract (miro-openapi.ts).
export type JsonSchema = Record<string, unknown>

export interface SpecParameter {
  in: 'query' | 'path' | 'header' | 'cookie'
  name: string
  required?: boolean
  schema?: JsonSchema
}

export interface SpecOperation {
  method: string
  path: string
  parameters: SpecParameter[]
  /** JSON request body schema, or null. */
  body: JsonSchema | null
  bodyTypes: string[]
  /** Status code → JSON schema (null: the spec gives none, e.g. 204 or a dangling reference). */
  responses: Record<string, JsonSchema | null>
}

export interface MiroSpec {
  operations: Record<string, SpecOperation>
  components: { schemas: Record<string, JsonSchema> }
}
