// `npm start` on a fresh machine: the compiled example starts with no services and no Miro
// credentials, says so in one line with the URL to open, serves the app, and Ctrl-C (SIGINT)
// closes everything with exit code 0.
import t from 'tap'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { join } from 'node:path'
import { freePort } from './helpers/redis'

t.test('the example app starts against the sandbox and stops cleanly on SIGINT', async (t) => {
  const port = await freePort()
  const env: NodeJS.ProcessEnv = { ...process.env, PORT: String(port), HOST: '127.0.0.1' }
  for (const name of ['MIRO_CLIENT_ID', 'MIRO_CLIENT_SECRET', 'MIRO_REDIRECT_URL', 'MIRO_STORAGE']) delete env[name]
  const child = spawn(process.execPath, [join(__dirname, '..', 'dist', 'examples', 'app.js')], { env, stdio: ['ignore', 'pipe', 'pipe'] })
  t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL') })
  let output = ''
  child.stdout.on('data', (chunk: Buffer) => { output += chunk.toString() })
  child.stderr.on('data', (chunk: Buffer) => { output += chunk.toString() })

  const deadline = Date.now() + 20_000
  while (!output.includes('open http') && Date.now() < deadline && child.exitCode === null) await new Promise((resolve) => setTimeout(resolve, 50))
  const lines = output.trim().split('\n')
  t.equal(lines.length, 1, `one line: ${output}`)
  t.match(lines[0], new RegExp(`^fastify-miro example: no MIRO_CLIENT_ID/SECRET/REDIRECT_URL set, using the local Miro sandbox at http://127\\.0\\.0\\.1:\\d+ \\(session storage\\) — open http://127\\.0\\.0\\.1:${port}$`))

  const home = await fetch(`http://127.0.0.1:${port}/`)
  t.equal(home.status, 200)
  t.match(await home.text(), /Log in with Miro/)
  const login = await fetch(`http://127.0.0.1:${port}/auth/miro`, { redirect: 'manual' })
  t.equal(login.status, 302)
  t.match(login.headers.get('location'), /^http:\/\/127\.0\.0\.1:\d+\/oauth\/authorize\?/, 'the login goes to the local sandbox')

  const exited = once(child, 'exit')
  child.kill('SIGINT')
  const [code] = await exited
  t.equal(code, 0, 'exit code 0 after Ctrl-C')
})
