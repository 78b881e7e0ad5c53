// The example app's pages: server-rendered HTML with inline CSS, no scripts (the board panel's
// page, in panel.ts, has one).
import { escapeHtml, html, httpLink, raw, type SafeHtml } from './html'

export interface Flash {
  kind: 'ok' | 'error'
  text: string
}

export interface BoardView {
  id: string
  name: string
  description: string
  viewLink: string | undefined
  createdAt: Date | undefined
}

export interface PageContext {
  /** Paths of the plugin's routes, so the pages link to the right place. */
  loginPath: string
  logoutPath: string
  /** With a shared token storage (Redis): "Log out everywhere" posts here. */
  logoutEverywherePath?: string
  /** Footer: which Miro and which token storage this app uses. */
  miroLabel: string
  storageLabel: string
}

const STYLE = raw(`
  * { box-sizing: border-box }
  body { margin: 0; min-height: 100vh; display: flex; flex-direction: column; background: #f4f4f6;
    font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #050038 }
  header { background: #050038; color: #fff }
  header .bar, main, footer { width: min(760px, 92vw); margin: 0 auto }
  header .bar { display: flex; align-items: center; justify-content: space-between; gap: 16px; padding: 14px 0 }
  .brand { display: flex; align-items: center; gap: 10px; color: #fff; text-decoration: none; font-weight: 700 }
  .brand .logo { background: #ffd02f; color: #050038; padding: 2px 9px; border-radius: 6px; letter-spacing: .5px }
  .who { display: flex; align-items: center; gap: 14px; font-size: 14px; color: #c9c8e3 }
  .who strong { color: #fff }
  main { flex: 1; padding: 32px 0 }
  .card { background: #fff; border-radius: 12px; padding: 28px 32px; margin-bottom: 24px;
    box-shadow: 0 8px 32px rgba(5, 0, 56, .08) }
  .hero { text-align: center; padding: 48px 32px }
  h1 { font-size: 28px; margin: 0 0 8px }
  h2 { font-size: 20px; margin: 0 0 16px; display: flex; align-items: baseline; gap: 8px }
  h2 .count { font-size: 14px; font-weight: 500; color: #6b6b85 }
  p { margin: 8px 0; color: #3d3d5c }
  .button { display: inline-block; padding: 10px 20px; border-radius: 8px; border: 1px solid transparent; cursor: pointer;
    font: inherit; font-weight: 600; text-decoration: none; background: #4262ff; color: #fff }
  .button:hover { background: #3049d6 }
  .button.big { margin-top: 20px; padding: 13px 28px; font-size: 17px }
  .button.quiet { background: #fff; color: #050038; border: 1px solid #c7c7d6 }
  .button.quiet:hover { background: #f4f4f6 }
  header .button.quiet { background: transparent; color: #fff; border-color: #5c5a85; padding: 6px 14px; font-size: 14px }
  header .button.quiet:hover { background: #1d1a52 }
  .actions { display: flex; gap: 12px; justify-content: center; margin-top: 24px }
  .flash { border-radius: 8px; padding: 12px 16px; margin-bottom: 24px; font-weight: 500 }
  .flash.ok { background: #e3f6ea; color: #0b5d2a; border: 1px solid #b5e3c4 }
  .flash.error { background: #fdeaea; color: #8a1020; border: 1px solid #f3bcc3 }
  ul.boards { list-style: none; margin: 0; padding: 0 }
  ul.boards li { display: flex; align-items: center; gap: 14px; padding: 12px 4px; border-top: 1px solid #ececf2 }
  ul.boards li:first-child { border-top: 0 }
  .thumb { flex: none; width: 40px; height: 40px; border-radius: 8px; background: #ffd02f; color: #050038;
    display: grid; place-items: center; font-weight: 700 }
  .board { min-width: 0 }
  .board a, .board .name { color: #050038; font-weight: 600; text-decoration: none; overflow-wrap: anywhere }
  .board a:hover { color: #4262ff; text-decoration: underline }
  .meta { font-size: 13px; color: #6b6b85; overflow-wrap: anywhere }
  .empty { color: #6b6b85 }
  form.create { display: flex; gap: 12px }
  form.create input { flex: 1; min-width: 0; padding: 10px 12px; font: inherit; border: 1px solid #c7c7d6; border-radius: 8px }
  form.create input:focus { outline: 2px solid #4262ff; border-color: transparent }
  form.create select { padding: 10px 12px; font: inherit; border: 1px solid #c7c7d6; border-radius: 8px; background: #fff }
  form.inline { display: inline; margin: 0 }
  ul.notes { list-style: none; margin: 0; padding: 0; display: flex; flex-wrap: wrap; gap: 12px }
  ul.notes li { width: 150px; min-height: 110px; padding: 12px; border-radius: 4px; box-shadow: 0 2px 6px rgba(5, 0, 56, .15);
    overflow-wrap: anywhere; font-size: 15px }
  .back { font-size: 14px; margin: 0 0 16px }
  footer { padding: 16px 0 28px; font-size: 13px; color: #6b6b85; text-align: center }
  code { background: #e9e9f1; padding: 1px 5px; border-radius: 4px; font-size: 13px }
  .who .signed-in { min-width: 0; overflow: hidden; text-overflow: ellipsis; white-space: nowrap }
  .who { min-width: 0 }
  .who form, .brand { flex: none }
  /* Phones (390 px): the header stays one line, the logo and the user's name with Log out. */
  @media (max-width: 560px) {
    .brand .title, .who .label, .who .team { display: none }
    .who { gap: 10px }
    .card { padding: 22px 18px }
  }
`)

const dateFormat = new Intl.DateTimeFormat('en', { dateStyle: 'medium' })

export function layout (ctx: PageContext, title: string, body: SafeHtml, who?: SafeHtml): SafeHtml {
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title} – fastify-miro example</title>
<link rel="icon" href="data:,">
<style>${STYLE}</style>
</head>
<body>
<header><div class="bar">
  <a class="brand" href="/"><span class="logo">miro</span> <span class="title">fastify-miro example</span></a>
  ${who}
</div></header>
<main>
${body}
</main>
<footer>Miro: ${ctx.miroLabel} · tokens stored in: <code>${ctx.storageLabel}</code> · <a href="/panel">Board panel demo</a></footer>
</body>
</html>
`
}

function flashBox (flash: Flash | undefined): SafeHtml | undefined {
  return flash && html`<div class="flash ${flash.kind}" role="status">${flash.text}</div>`
}

function loginButton (ctx: PageContext, label = 'Log in with Miro', extraClass = ' big'): SafeHtml {
  return html`<a class="button${extraClass}" href="${ctx.loginPath}">${label}</a>`
}

export function welcomePage (ctx: PageContext, flash?: Flash): string {
  return layout(ctx, 'Welcome', html`
${flashBox(flash)}
<section class="card hero">
  <h1>Your Miro boards, from Fastify</h1>
  <p>This app logs you in with Miro through <code>fastify-miro</code>, then lists and creates boards with your token.</p>
  ${loginButton(ctx)}
</section>`).value
}

function boardItem (board: BoardView): SafeHtml {
  const name = html`<a href="/boards/${encodeURIComponent(board.id)}">${board.name}</a>`
  const meta = [
    board.createdAt && !Number.isNaN(board.createdAt.getTime()) ? `Created ${dateFormat.format(board.createdAt)}` : '',
    board.description
  ].filter(Boolean).join(' · ')
  return html`<li data-board-id="${board.id}">
    <span class="thumb" aria-hidden="true">${[...board.name.trim()][0]?.toUpperCase() ?? '?'}</span>
    <div class="board">${name}${meta ? html`<div class="meta">${meta}</div>` : ''}</div>
  </li>`
}

export interface BoardsPage {
  userName: string
  teamName: string
  boards: BoardView[]
  /** True when there are more boards than shown. */
  more: boolean
  flash?: Flash | undefined
}

export function boardsPage (ctx: PageContext, page: BoardsPage): string {
  const who = html`<div class="who">
    <span class="signed-in"><span class="label">Signed in as </span><strong>${page.userName || 'a Miro user'}</strong>${page.teamName ? html`<span class="team"> · ${page.teamName}</span>` : ''}</span>
    <form class="inline" method="post" action="${ctx.logoutPath}"><button class="button quiet" type="submit">Log out</button></form>
    ${ctx.logoutEverywherePath === undefined ? '' : html`<form class="inline" method="post" action="${ctx.logoutEverywherePath}"><button class="button quiet" type="submit">Log out everywhere</button></form>`}
  </div>`
  const list = page.boards.length === 0
    ? html`<p class="empty">No boards yet: create your first one below.</p>`
    : html`<ul class="boards">${page.boards.map(boardItem)}</ul>`
  return layout(ctx, 'Your boards', html`
${flashBox(page.flash)}
<section class="card">
  <h2>Your boards <span class="count">${page.more ? `first ${page.boards.length}` : String(page.boards.length)}</span></h2>
  ${list}
</section>
<section class="card">
  <h2>Create a board</h2>
  <form class="create" method="post" action="/boards">
    <input type="text" name="name" aria-label="Board name" placeholder="Board name" maxlength="60" required>
    <button class="button" type="submit">Create board</button>
  </form>
</section>`, who).value
}

export function loginFailedPage (ctx: PageContext, code: string | undefined): string {
  const cancelled = code === 'FST_MIRO_ACCESS_DENIED'
  const title = cancelled ? 'Login cancelled' : 'Login failed, try again'
  const text = cancelled
    ? 'You chose not to give this app access to your Miro boards. Nothing was shared.'
    : 'Miro did not complete the login (it may have taken too long, or been started in another tab). Please start again.'
  return layout(ctx, title, html`
<section class="card hero">
  <h1>${title}</h1>
  <p>${text}</p>
  <div class="actions">${loginButton(ctx, cancelled ? 'Log in with Miro' : 'Try again', '')}<a class="button quiet" href="/">Home</a></div>
</section>`).value
}

export function loggedOutPage (ctx: PageContext): string {
  return layout(ctx, 'Logged out', html`
<section class="card hero">
  <h1>You are logged out</h1>
  <p>Your Miro token was revoked and removed from this app.</p>
  <div class="actions">${loginButton(ctx, 'Log in again', '')}<a class="button quiet" href="/">Home</a></div>
</section>`).value
}

export function errorPage (ctx: PageContext, status: number, title: string, text: string, loginAgain = false): string {
  return layout(ctx, title, html`
<section class="card hero">
  <h1>${title}</h1>
  <p>${text}</p>
  <p class="meta">HTTP ${status}</p>
  <div class="actions">${loginAgain ? loginButton(ctx, 'Log in again', '') : ''}<a class="button quiet" href="/">Home</a></div>
</section>`).value
}

export interface NoteView {
  id: string
  content: string
  fillColor: string
}

/** Miro's sticky-note colours (StickyNoteStyle.fillColor) that the form offers, with their look. */
export const NOTE_COLOURS: Record<string, string> = {
  light_yellow: '#fff9b1',
  yellow: '#f5d128',
  orange: '#ff9d48',
  light_green: '#d5f692',
  cyan: '#67c6c0',
  light_pink: '#ffcee0',
  light_blue: '#a6ccf5',
  violet: '#c6a2d2'
}

export interface BoardPage {
  board: BoardView
  notes: NoteView[]
  flash?: Flash | undefined
}

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: ' ' }

/** Miro content is HTML (<p>…</p>): shown as its text (escaped again by `html`). */
export function noteText (content: string): string {
  return content.replace(/<[^>]*>/g, ' ')
    .replace(/&(#\d{1,7}|#x[0-9a-f]{1,6}|[a-z]+);/gi, (m, e: string) => {
      if (e[0] !== '#') return ENTITIES[e.toLowerCase()] ?? m
      const code = Number(e[1] === 'x' || e[1] === 'X' ? '0' + e.slice(1) : e.slice(1))
      return code <= 0x10ffff ? String.fromCodePoint(code) : m
    })
    .replace(/\s+/g, ' ').trim()
}

/** Plain text as Miro content: one HTML paragraph. */
export function noteContent (text: string): string {
  return `<p>${escapeHtml(text)}</p>`
}

export function boardPage (ctx: PageContext, page: BoardPage): string {
  const { board } = page
  const open = httpLink(board.viewLink)
  const list = page.notes.length === 0
    ? html`<p class="empty">No sticky notes on this board yet: add the first one below.</p>`
    : html`<ul class="notes">${page.notes.map((n) => html`<li data-note-id="${n.id}" style="background:${NOTE_COLOURS[n.fillColor] ?? '#fff9b1'}">${noteText(n.content)}</li>`)}</ul>`
  const action = `/boards/${encodeURIComponent(board.id)}/sticky-notes`
  return layout(ctx, board.name, html`
${flashBox(page.flash)}
<p class="back"><a href="/">← All boards</a>${open ? html` · <a href="${open}" target="_blank" rel="noopener noreferrer">Open the board in Miro</a>` : ''}</p>
<section class="card">
  <h2>${board.name} <span class="count">${page.notes.length} sticky note${page.notes.length === 1 ? '' : 's'}</span></h2>
  ${list}
</section>
<section class="card">
  <h2>Add a sticky note</h2>
  <form class="create" method="post" action="${action}">
    <input type="text" name="content" aria-label="Sticky note text" placeholder="Text" maxlength="500" required>
    <select name="color" aria-label="Colour">${Object.keys(NOTE_COLOURS).map((c) => html`<option value="${c}">${c.replace('_', ' ')}</option>`)}</select>
    <button class="button" type="submit">Add sticky note</button>
  </form>
</section>`).value
}
