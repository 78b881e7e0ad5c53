// Image upload from a file (multipart/form-data, what the SDK's createImageItem({ data: { data: stream } })
// sends): the file is kept in memory and served at /app/uploads/<id>, and the request becomes the
// by-URL create the images route validates, so both paths share one handler and one schema.
import type { FastifyInstance } from 'fastify'
import { HttpStatusError } from './http'
import type { Context } from './state'

export function registerUploads (app: FastifyInstance, ctx: Context): void {
  app.addContentTypeParser('multipart/form-data', { parseAs: 'buffer' }, (req, body, done) => {
    try {
      const boundary = /boundary=(?:"([^"]+)"|([^;]+))/i.exec(req.headers['content-type'] ?? '')
      const parts = splitParts(body as Buffer, boundary?.[1] ?? boundary?.[2] ?? '')
      const resource = parts.find((p) => p.name === 'resource')
      if (!resource) throw new HttpStatusError(400, 'invalidParameters', 'The upload has no resource part')
      const dataPart = parts.find((p) => p.name === 'data')
      const data = dataPart ? JSON.parse(dataPart.body.toString('utf8')) as Record<string, unknown> : {}
      const id = ctx.store.numericId()
      ctx.uploads.set(id, { type: resource.type ?? 'application/octet-stream', body: resource.body })
      const url = `http://${req.headers.host ?? 'localhost'}/app/uploads/${id}`
      done(null, {
        data: { url, ...(typeof data.title === 'string' ? { title: data.title } : {}) },
        ...(data.position ? { position: data.position } : {}),
        ...(data.geometry ? { geometry: data.geometry } : {})
      })
    } catch (err) {
      done(err instanceof HttpStatusError ? err : new HttpStatusError(400, 'invalidBody', 'The multipart body could not be read'), undefined)
    }
  })
  app.get('/app/uploads/:id', async (req, res) => {
    const file = ctx.uploads.get((req.params as { id: string }).id)
    if (!file) throw new HttpStatusError(404, 'notFound', 'No such upload')
    return res.type(file.type).send(file.body)
  })
}

interface Part { name: string, type?: string, body: Buffer }

function splitParts (body: Buffer, boundary: string): Part[] {
  if (!boundary) throw new HttpStatusError(400, 'invalidBody', 'multipart/form-data needs a boundary')
  const parts: Part[] = []
  const marker = Buffer.from(`--${boundary}`)
  let at = body.indexOf(marker)
  while (at >= 0) {
    const start = at + marker.length
    if (body.subarray(start, start + 2).toString() === '--') break
    const next = body.indexOf(marker, start)
    if (next < 0) break
    const chunk = body.subarray(start + 2, next - 2) // skip the CRLF after the marker and before the next
    const split = chunk.indexOf('\r\n\r\n')
    const head = chunk.subarray(0, split).toString('utf8')
    const name = /name="([^"]*)"/i.exec(head)?.[1]
    const type = /content-type:\s*([^\r\n]+)/i.exec(head)?.[1]
    if (name !== undefined) parts.push({ name, ...(type ? { type } : {}), body: chunk.subarray(split + 4) })
    at = next
  }
  return parts
}
