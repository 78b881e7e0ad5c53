// Debian's Chromium (or CHROME_PATH) driven by playwright-core, never a downloaded browser:
// a fresh profile per launch, and the flags a machine without internet needs.
import { accessSync, constants } from 'node:fs'
import { mkdir, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import type { Test } from 'tap'
import { chromium, type BrowserContext } from 'playwright-core'

export const SCREENSHOTS = resolve(__dirname, '..', '..', 'test-output', 'browser')

const executablePath = process.env.CHROME_PATH || '/usr/bin/chromium'
const CHROME_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
  '--disable-sync', '--no-first-run', '--disable-quic'
]

function browserFound (): boolean {
  try {
    accessSync(executablePath, constants.X_OK)
    return true
  } catch {
    return false
  }
}

/**
 * Runs `define` (which adds the browser tests) when Chromium is there. Without it the file is
 * skipped with a message saying how to install it, except under CI, where that is a failure.
 */
export function whenChromium (t: Test, define: () => void): void {
  if (!browserFound()) {
    const message = `no Chromium at ${executablePath}: install it (apt-get install -y chromium) or set CHROME_PATH to a Chromium or Chrome executable`
    if (process.env.CI) t.fail(message)
    else t.plan(0, message)
    return
  }
  t.before(() => mkdir(SCREENSHOTS, { recursive: true }))
  define()
}

/** A fresh browser profile; `close()` closes the browser and deletes the profile. */
export async function launchChromium (): Promise<{ context: BrowserContext, close: () => Promise<void> }> {
  const profile = await mkdtemp(join(tmpdir(), 'fastify-miro-chromium-'))
  const context = await chromium.launchPersistentContext(profile, { executablePath, args: CHROME_ARGS, viewport: { width: 1000, height: 720 } })
  context.setDefaultTimeout(10_000)
  return {
    context,
    async close () {
      await context.close()
      await rm(profile, { recursive: true, force: true })
    }
  }
}
