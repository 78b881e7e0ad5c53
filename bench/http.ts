// One GET on its own connection (closed afterwards): checks and the refresh storm.
import { get } from 'node:http'

export interface Answer { status: number, body: string }

export function httpGet (url: string, headers: Record<string, string> = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    get(url, { agent: false, headers }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => { body += chunk })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }))
      res.on('error', reject)
    }).on('error', reject)
  })
}
