// The TypeScript blocks of README.md, each with the hidden preamble that may precede it: an HTML
// comment `<!-- ts-preamble … -->` right before the block, declaring what the snippet assumes
// (an `app`, a `secret`) without showing it to readers.
export interface ReadmeBlock {
  /** 1-based line of the block's opening fence in README.md. */
  line: number
  preamble: string
  code: string
}

export function readmeTypeScriptBlocks (markdown: string): ReadmeBlock[] {
  const blocks: ReadmeBlock[] = []
  const re = /(?:<!-- ts-preamble\n([\s\S]*?)-->\n\s*)?^```ts\n([\s\S]*?)^```$/gm
  for (const match of markdown.matchAll(re)) {
    const fence = match.index + match[0].indexOf('```ts')
    blocks.push({ line: markdown.slice(0, fence).split('\n').length, preamble: match[1] ?? '', code: match[2] ?? '' })
  }
  return blocks
}
