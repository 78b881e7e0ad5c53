// HTML for the consent and error pages. Plain strings, inline CSS, no scripts.

export interface ConsentPage {
  clientId: string
  redirectUri: string
  state: string
  teamId: string
  defaultName: string
  /** PKCE's code_challenge and code_challenge_method, carried through the form. */
  pkce?: { code_challenge: string, code_challenge_method: string }
}

const STYLE = `
  * { box-sizing: border-box }
  body { margin: 0; min-height: 100vh; display: grid; place-items: center; background: #f4f4f6;
    font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #050038 }
  main { width: min(420px, 92vw); background: #fff; border-radius: 12px; padding: 32px;
    box-shadow: 0 8px 32px rgba(5, 0, 56, .12) }
  .logo { display: inline-block; background: #ffd02f; color: #050038; font-weight: 700;
    padding: 4px 10px; border-radius: 6px; letter-spacing: .5px }
  h1 { font-size: 22px; margin: 16px 0 8px }
  p { margin: 8px 0; color: #3d3d5c }
  code { background: #f0f0f5; padding: 1px 5px; border-radius: 4px; font-size: 14px; overflow-wrap: anywhere }
  ul { padding-left: 20px; color: #3d3d5c }
  label { display: block; margin-top: 20px; font-weight: 600 }
  input[type=text] { width: 100%; margin-top: 6px; padding: 10px 12px; font: inherit;
    border: 1px solid #c7c7d6; border-radius: 8px }
  input[type=text]:focus { outline: 2px solid #4262ff; border-color: transparent }
  /* Allow comes first in the markup (Enter in the name field submits the first button), shown on the right */
  .actions { display: flex; flex-direction: row-reverse; gap: 12px; margin-top: 24px }
  button { flex: 1; padding: 12px; font: inherit; font-weight: 600; border-radius: 8px; cursor: pointer }
  .allow { background: #4262ff; color: #fff; border: 0 }
  .allow:hover { background: #3049d6 }
  .deny { background: #fff; color: #050038; border: 1px solid #c7c7d6 }
  .deny:hover { background: #f4f4f6 }
  .note { font-size: 13px; color: #6b6b85; margin-top: 20px }
`

export function escapeHtml (text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)
}

function layout (title: string, body: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>${STYLE}</style>
</head>
<body>
<main>
<span class="logo">miro sandbox</span>
${body}
</main>
</body>
</html>
`
}

function hidden (name: string, value: string): string {
  return `<input type="hidden" name="${name}" value="${escapeHtml(value)}">`
}

export function consentPage (page: ConsentPage): string {
  const back = new URL(page.redirectUri).host
  return layout('Allow access? – Miro sandbox', `
<h1>Allow access to your boards?</h1>
<p>The app <code>${escapeHtml(page.clientId)}</code> asks to:</p>
<ul>
  <li>see your boards (<code>boards:read</code>)</li>
  <li>create and change boards (<code>boards:write</code>)</li>
</ul>
<form method="post" action="/oauth/authorize">
  ${hidden('client_id', page.clientId)}
  ${hidden('redirect_uri', page.redirectUri)}
  ${hidden('state', page.state)}
  ${hidden('team_id', page.teamId)}
  ${page.pkce ? hidden('code_challenge', page.pkce.code_challenge) + hidden('code_challenge_method', page.pkce.code_challenge_method) : ''}
  <label for="name">Your name</label>
  <input type="text" id="name" name="name" value="${escapeHtml(page.defaultName)}" autocomplete="off">
  <div class="actions">
    <button type="submit" class="allow" name="decision" value="allow">Allow</button>
    <button type="submit" class="deny" name="decision" value="deny">Deny</button>
  </div>
</form>
<p class="note">You will be sent back to <code>${escapeHtml(back)}</code>. A new name signs you in as a new user.
This is a local stand-in for Miro; nothing leaves this machine.</p>
`)
}

export function errorPage (title: string, message: string): string {
  return layout(`${title} – Miro sandbox`, `
<h1>${escapeHtml(title)}</h1>
<p>${escapeHtml(message)}</p>
<p class="note">The app sent you here with a bad authorization request. Nothing was shared.</p>
`)
}
