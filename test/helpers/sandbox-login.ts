// A login at the sandbox the way an app does it: consent (Allow), then the code exchange.
import type { Sandbox } from '../../sandbox/index'

export const SANDBOX_REDIRECT = 'http://localhost:3000/auth/miro/callback'

export interface SandboxTokens {
  access_token: string
  refresh_token: string
  user_id: string
  team_id: string
  expires_in: number
}

export async function sandboxLogin (sb: Sandbox, opts?: Parameters<Sandbox['approve']>[1]): Promise<SandboxTokens> {
  const url = new URL('/oauth/authorize', sb.url)
  url.search = new URLSearchParams({ response_type: 'code', client_id: sb.clientId, redirect_uri: SANDBOX_REDIRECT }).toString()
  const code = new URL(await sb.approve(url.toString(), opts)).searchParams.get('code') ?? ''
  const res = await fetch(`${sb.url}/v1/oauth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: SANDBOX_REDIRECT, client_id: sb.clientId, client_secret: sb.clientSecret })
  })
  if (res.status !== 200) throw new Error(`token exchange failed: ${res.status}`)
  return await res.json() as SandboxTokens
}
