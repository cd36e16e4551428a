/** Markdown tables and number formats shared by the bench's sections. */

export function table(header: string[], rows: string[][]): string {
	return [`| ${header.join(' | ')} |`, `|${header.map(() => '---').join('|')}|`, ...rows.map(row => `| ${row.join(' | ')} |`)].join('\n');
}

const finite = (value: number) => Number.isFinite(value);

/** Milliseconds as seconds with two decimals. */
export const seconds = (ms: number) => (finite(ms) ? (ms / 1000).toFixed(2) : '–');
export const millis = (ms: number, digits = 2) => (finite(ms) ? ms.toFixed(digits) : '–');
export const times = (value: number) => (finite(value) ? `${value.toFixed(2)}×` : '–');
export const whole = (value: number) => (finite(value) ? Math.round(value).toLocaleString('en-US') : '–');
export const verdict = (met: boolean | undefined) => (met === undefined ? '–' : met ? '**met**' : '**missed**');
