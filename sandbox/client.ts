// Sandbox.approve/deny: drive the consent page over HTTP the way a browser would,
// so the page and its form are exercised, not bypassed.
import { request } from 'node:http'
import type { ConsentOptions } from './types'

interface Reply {
  status: number
  location: string | undefined
  body: string
}

export async function submitConsent (sandboxUrl: string, authorizeUrl: string, decision: 'allow' | 'deny', opts: ConsentOptions = {}): Promise<string> {
  const target = new URL(authorizeUrl)
  const home = new URL(sandboxUrl)
  if (target.origin !== home.origin || target.pathname !== '/oauth/authorize') {
    throw new Error(`${authorizeUrl} is not this sandbox's authorize URL (${home.origin}/oauth/authorize); check the basePath`)
  }
  const page = await send('GET', target)
  if (page.status !== 200) throw new Error(`Consent page refused the request: ${page.status} ${pageText(page.body)}`)
  const form = new URLSearchParams(hiddenFields(page.body))
  form.set('name', opts.userName ?? prefilledName(page.body))
  if (opts.userId !== undefined) form.set('user_id', opts.userId)
  form.set('decision', decision)
  const answer = await send('POST', new URL('/oauth/authorize', home), form.toString())
  if (answer.status !== 302 || !answer.location) {
    throw new Error(`Consent form was refused: ${answer.status} ${pageText(answer.body)}`)
  }
  return answer.location
}

function hiddenFields (html: string): Array<[string, string]> {
  const fields: Array<[string, string]> = []
  for (const match of html.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)) {
    fields.push([match[1] ?? '', unescapeHtml(match[2] ?? '')])
  }
  return fields
}

function prefilledName (html: string): string {
  return unescapeHtml(/<input type="text" id="name" name="name" value="([^"]*)"/.exec(html)?.[1] ?? '')
}

function unescapeHtml (text: string): string {
  return text.replace(/&#(\d+);/g, (_, code: string) => String.fromCharCode(Number(code)))
}

/** The page's heading and first paragraph, to say why it refused. */
function pageText (html: string): string {
  const h1 = /<h1>([^<]*)<\/h1>/.exec(html)?.[1] ?? ''
  const p = /<p>([^<]*)<\/p>/.exec(html)?.[1] ?? ''
  return unescapeHtml(`${h1}: ${p}`)
}

/** One request on its own connection (agent: false), so nothing lingers in a pool after close(). */
function send (method: string, url: URL, body?: string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(url, {
      method,
      agent: false,
      headers: body === undefined
        ? {}
        : { 'content-type': 'application/x-www-form-urlencoded', 'content-length': Buffer.byteLength(body) }
    }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (chunk: Buffer) => chunks.push(chunk))
      res.on('end', () => resolve({
        status: res.statusCode ?? 0,
        location: res.headers.location,
        body: Buffer.concat(chunks).toString('utf8')
      }))
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end(body)
  })
}
