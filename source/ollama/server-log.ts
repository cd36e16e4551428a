/**
 * What `ollama serve` says about itself in its log (Go slog text lines on stderr): the version it listens with, GPU
 * discovery under way, the devices it will compute on, and its default context. File:line at v0.33.0-rc2.
 */

/** The `key=value` attributes of one slog text line (values in Go quotes unquoted). */
export function slogAttributes(line: string): Map<string, string> {
	const attributes = new Map<string, string>();
	for (const match of line.matchAll(/([\w.]+)=("(?:[^"\\]|\\.)*"|\S*)/g)) {
		const raw = match[2]!;
		let value = raw;
		if (raw.startsWith('"')) {
			try {
				value = JSON.parse(raw) as string;
			} catch {
				value = raw.slice(1, -1);
			}
		}

		attributes.set(match[1]!, value);
	}

	return attributes;
}

/** One `msg="inference compute"` line (discover/types.go:19-61; 0.12.3 discover/types.go:128-142). */
export type InferenceCompute = {
	id: string;
	/** Since v0.30.0: the device as the instance's CUDA_VISIBLE_DEVICES names it (absent on CPU and in 0.12). */
	filterId: string | undefined;
	/** `CUDA`, `ROCm`, `Vulkan`, `Metal` (0.12: `cuda`, `rocm`), or `cpu` when the server found no usable GPU. */
	library: string;
	/** GPU name (`description` since v0.30.0, `name` in 0.12). */
	description: string | undefined;
	/** Bytes, from `total="14.6 GiB"`. */
	totalBytes: number | undefined;
	availableBytes: number | undefined;
};

export function parseInferenceCompute(line: string): InferenceCompute | undefined {
	if (!line.includes('msg="inference compute"')) {
		return undefined;
	}

	const attributes = slogAttributes(line.slice(line.indexOf('msg="inference compute"') + 'msg="inference compute"'.length));
	const library = attributes.get('library');
	if (library === undefined) {
		return undefined;
	}

	return {
		id: attributes.get('id') ?? '',
		filterId: attributes.get('filter_id'),
		library,
		description: attributes.get('description') ?? (attributes.get('name') || undefined),
		totalBytes: bytesOf(attributes.get('total')),
		availableBytes: bytesOf(attributes.get('available')),
	};
}

/** True for a device line that means: no GPU, CPU only. */
export function isCpuCompute(compute: InferenceCompute): boolean {
	return compute.library.toLowerCase() === 'cpu';
}

/** `msg="vram-based default context" total_vram="14.6 GiB" default_num_ctx=4096` (routes.go:2058, since v0.15.5). */
export function parseDefaultContextLine(line: string): {defaultNumCtx: number; totalVramBytes: number | undefined} | undefined {
	if (!line.includes('msg="vram-based default context"')) {
		return undefined;
	}

	const attributes = slogAttributes(line);
	const numCtx = Number(attributes.get('default_num_ctx'));
	return Number.isInteger(numCtx) && numCtx > 0 ? {defaultNumCtx: numCtx, totalVramBytes: bytesOf(attributes.get('total_vram'))} : undefined;
}

/** `msg="Listening on 127.0.0.1:11434 (version 0.34.4)"` (routes.go:2008) → `0.34.4`. */
export function parseListeningVersion(line: string): string | undefined {
	return /msg="Listening on \S+ \(version ([^)"]+)\)"/.exec(line)?.[1];
}

/**
 * Lines that show GPU discovery still under way between "Listening on" and the first HTTP answer: its start
 * (discover/runner.go:60; 0.12: gpu.go "looking for compatible GPUs"), a bootstrap that timed out and moves on to the
 * next library (runner.go:584, :82-123), a failed probe, the validation pass (DEBUG), the visible-devices warnings (runner.go:722-726) and its results.
 */
export function isDiscoveryProgress(line: string): boolean {
	return /msg="(discovering available GPUs\.\.\.|looking for compatible GPUs|llama-server GPU discovery watchdog timed out|failure during llama-server GPU discovery|bootstrap discovery took|verifying if device is supported|inference compute|vram-based default context|evaluating which, if any, devices to filter out|filtering device which didn't fully initialize|user overrode visible devices|if GPUs are not correctly discovered, unset and try again)"/.test(line);
}

/** True for the line that starts discovery: from here it may take up to about two minutes (runner.go:82-132). */
export function isDiscoveryStart(line: string): boolean {
	return line.includes('msg="discovering available GPUs..."') || line.includes('msg="looking for compatible GPUs"');
}

/** Go's format.HumanBytes2 back to bytes: `14.6 GiB`, `512 MiB`, `1.0 TiB`, `900 B`. */
export function bytesOf(text: string | undefined): number | undefined {
	const match = /^([\d.]+)\s*(B|KiB|MiB|GiB|TiB)$/.exec((text ?? '').trim());
	if (!match) {
		return undefined;
	}

	const unit = {B: 1, KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3, TiB: 1024 ** 4}[match[2] as 'B'];
	return Math.round(Number(match[1]) * unit);
}
