/** bench/RESULTS.md keeps hand-written text around generated blocks: `<!-- bench:NAME:start -->` … `<!-- bench:NAME:end -->`. */

export function replaceGenerated(text: string, name: string, content: string): string {
	const start = `<!-- bench:${name}:start -->`;
	const end = `<!-- bench:${name}:end -->`;
	const from = text.indexOf(start);
	const to = text.indexOf(end);
	if (from === -1 || to === -1 || to < from) {
		throw new Error(`RESULTS.md has no ${start} … ${end} block`);
	}

	return `${text.slice(0, from + start.length)}\n${content.trim()}\n${text.slice(to)}`;
}
