// Route schemas taken from Miro's OpenAPI document: one source for the sandbox's request
// validation and for the contract test's response checks.
import { miroSpec } from './miro-openapi'
import type { JsonSchema, SpecOperation } from './types'

export { miroSpec }
export type { JsonSchema, MiroSpec, SpecOperation } from './types'

/** $id under which the spec's components are registered (app.addSchema / ajv.addSchema). */
export const SPEC_ID = 'miro-openapi'
/** The same components without `default`s, for PATCH bodies: a default there would overwrite what is stored. */
export const PATCH_SPEC_ID = 'miro-openapi-patch'

/** The component schemas as one schema document, so '#/components/schemas/X' refs resolve inside it. */
export function componentsSchema (forPatch = false): JsonSchema {
  if (!forPatch) return { $id: SPEC_ID, components: miroSpec.components }
  return { $id: PATCH_SPEC_ID, components: withoutDefaults(miroSpec.components) as JsonSchema }
}

function withoutDefaults (node: unknown): unknown {
  if (Array.isArray(node)) return node.map(withoutDefaults)
  if (typeof node !== 'object' || node === null) return node
  return Object.fromEntries(Object.entries(node).filter(([k]) => k !== 'default').map(([k, v]) => [k, withoutDefaults(v)]))
}

export function operation (id: string): SpecOperation {
  const op = miroSpec.operations[id]
  if (!op) throw new Error(`sandbox: operation ${id} is not in the vendored spec extract`)
  return op
}

/** A schema's spec-local '#/components/…' refs pointed at the registered document. */
export function external (schema: JsonSchema, id = SPEC_ID): JsonSchema {
  return JSON.parse(JSON.stringify(schema).replaceAll('"$ref":"#/', `"$ref":"${id}#/`)) as JsonSchema
}

/**
 * Fastify route schema (querystring and body) for one or more operations that share a route
 * (e.g. GET /v2/boards/{id}/items serves get-items, get-items-within-frame and get-items-by-tag).
 * Query parameters of the operations are merged, none required: the handler decides which
 * operation a request is and checks what that one requires.
 */
export function routeSchema (...ids: string[]): { querystring?: JsonSchema, body?: JsonSchema } {
  const properties: Record<string, JsonSchema> = {}
  let body: JsonSchema | undefined
  for (const id of ids) {
    const op = operation(id)
    for (const p of op.parameters) {
      // The first operation named is the route's main one: its definition of a shared parameter wins.
      if (p.in === 'query' && p.schema && !(p.name in properties)) properties[p.name] = queryParam(p.schema)
    }
    if (op.body && body === undefined) body = external(op.body, op.method === 'PATCH' ? PATCH_SPEC_ID : SPEC_ID)
  }
  return {
    ...(Object.keys(properties).length ? { querystring: { type: 'object', properties } } : {}),
    ...(body ? { body } : {})
  }
}

/**
 * Miro declares numeric query parameters as strings with minimum/maximum, which JSON Schema
 * applies to numbers only: the handlers check those ranges themselves (pages.ts). Defaults are
 * dropped for the same reason: the handler's defaults are the documented ones.
 */
function queryParam (schema: JsonSchema): JsonSchema {
  const { default: _default, minimum: _min, maximum: _max, ...rest } = schema
  return rest
}

/** The spec's range and default for an operation's `limit` (Miro's prose default 20 where the schema has none). */
export function limitRange (id: string): { min: number, max: number, fallback: number } {
  const schema = operation(id).parameters.find((p) => p.in === 'query' && p.name === 'limit')?.schema ?? {}
  const num = (v: unknown, d: number): number => v === undefined ? d : Number(v)
  return { min: num(schema.minimum, 1), max: num(schema.maximum, 50), fallback: num(schema.default, 20) }
}
