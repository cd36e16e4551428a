const mebibytesPerGibibyte = 1024;

/** 81920 → "80.0G", 512 → "512M"; the unit stays compact so panels keep their columns. */
export function formatMiB(mebibytes: number | null | undefined): string {
	if (mebibytes === null || mebibytes === undefined || !Number.isFinite(mebibytes)) {
		return '–';
	}

	if (Math.abs(mebibytes) < mebibytesPerGibibyte) {
		return `${Math.round(mebibytes)}M`;
	}

	return `${(mebibytes / mebibytesPerGibibyte).toFixed(1)}G`;
}

/** Used and total in one unit, as people read it on nvidia-smi: "41.2/80.0G". */
export function formatMemoryPair(usedMiB: number | null | undefined, totalMiB: number | null | undefined): string {
	if (totalMiB === null || totalMiB === undefined || totalMiB < mebibytesPerGibibyte) {
		return `${formatMiB(usedMiB)}/${formatMiB(totalMiB)}`;
	}

	const used = usedMiB === null || usedMiB === undefined ? '–' : (usedMiB / mebibytesPerGibibyte).toFixed(1);
	return `${used}/${(totalMiB / mebibytesPerGibibyte).toFixed(1)}G`;
}

export function formatBytes(bytes: number): string {
	if (!Number.isFinite(bytes) || bytes < 0) {
		return '–';
	}

	const units = ['B', 'K', 'M', 'G', 'T'];
	let value = bytes;
	let unit = 0;
	while (value >= 1024 && unit < units.length - 1) {
		value /= 1024;
		unit++;
	}

	return unit === 0 ? `${value}B` : `${value < 10 ? value.toFixed(1) : Math.round(value)}${units[unit]}`;
}

/** A span of time in the two largest units: "45s", "12m 05s", "3h 12m", "2d 4h". */
export function formatDuration(milliseconds: number): string {
	if (!Number.isFinite(milliseconds)) {
		return '–';
	}

	const totalSeconds = Math.max(0, Math.floor(milliseconds / 1000));
	const days = Math.floor(totalSeconds / 86_400);
	const hours = Math.floor((totalSeconds % 86_400) / 3600);
	const minutes = Math.floor((totalSeconds % 3600) / 60);
	const seconds = totalSeconds % 60;
	if (days > 0) {
		return `${days}d ${hours}h`;
	}

	if (hours > 0) {
		return `${hours}h ${String(minutes).padStart(2, '0')}m`;
	}

	if (minutes > 0) {
		return `${minutes}m ${String(seconds).padStart(2, '0')}s`;
	}

	return `${seconds}s`;
}

/** A rate or count that must stay short: 0 → "0", 8.46 → "8.5", 84.2 → "84", 1284 → "1.3k", 2.5e6 → "2.5M". */
export function formatRate(value: number): string {
	if (!Number.isFinite(value) || value <= 0) {
		return '0';
	}

	if (value < 10) {
		return value.toFixed(1);
	}

	if (value < 1000) {
		return String(Math.round(value));
	}

	if (value < 1_000_000) {
		return `${(value / 1000).toFixed(value < 10_000 ? 1 : 0)}k`;
	}

	return `${(value / 1_000_000).toFixed(1)}M`;
}

export function formatCount(value: number): string {
	return value < 1000 ? String(value) : formatRate(value);
}

export function formatPercent(value: number | null | undefined): string {
	if (value === null || value === undefined || !Number.isFinite(value)) {
		return '–';
	}

	return `${Math.round(value)}%`;
}

export function formatMilliseconds(milliseconds: number | undefined): string {
	if (milliseconds === undefined || !Number.isFinite(milliseconds)) {
		return '–';
	}

	if (milliseconds < 1000) {
		return `${Math.round(milliseconds)}ms`;
	}

	return `${(milliseconds / 1000).toFixed(milliseconds < 10_000 ? 1 : 0)}s`;
}

export function formatTemperature(celsius: number | null | undefined): string {
	return celsius === null || celsius === undefined ? '–°C' : `${Math.round(celsius)}°C`;
}

export function formatPower(drawW: number | null | undefined, limitW: number | null | undefined): string {
	const draw = drawW === null || drawW === undefined ? '–' : String(Math.round(drawW));
	if (limitW === null || limitW === undefined) {
		return `${draw}W`;
	}

	return `${draw}/${Math.round(limitW)}W`;
}

/** Ollama reports models kept forever (keep_alive -1) with an expiry centuries away. */
const foreverThresholdMs = 365 * 86_400_000;

/** Time left before Ollama unloads a model, from /api/ps expires_at. */
export function formatExpiry(expiresAt: string | undefined, now: number): string {
	if (expiresAt === undefined) {
		return '';
	}

	const at = Date.parse(expiresAt);
	if (Number.isNaN(at)) {
		return '';
	}

	const left = at - now;
	if (left > foreverThresholdMs) {
		return 'kept';
	}

	if (left <= 0) {
		return 'unloading';
	}

	return formatDuration(left);
}
