// Logs a user in against a server the child just started: GET /setup once, keep its cookie.
import { get } from 'node:http'

/** `name=value` of the session cookie set by `GET url`, over a connection that is then closed. */
export function cookieFrom (url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    get(url, { agent: false }, (res) => {
      res.resume()
      const first = res.headers['set-cookie']?.[0]
      if (res.statusCode !== 200 || first === undefined) {
        reject(new Error(`${url} answered ${res.statusCode} without a cookie`))
        return
      }
      resolve(first.split(';')[0] as string)
    }).on('error', reject)
  })
}
