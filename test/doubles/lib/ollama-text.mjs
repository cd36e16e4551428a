// Deterministic "model output": the same prompt always gives the same tokens, embeddings and counts.
import {hash32} from './fleet.mjs';

const WORDS = [
	'The', 'answer', 'depends', 'on', 'the', 'context', 'of', 'your', 'question', 'and', 'a', 'few', 'details',
	'about', 'what', 'you', 'want', 'to', 'achieve', '.', 'Here', 'is', 'a', 'short', 'overview', ':', 'first',
	',', 'consider', 'the', 'inputs', ';', 'then', 'check', 'each', 'step', 'carefully', '!', 'In', 'summary',
	'it', 'works', 'well', 'for', 'most', 'cases', '.', '\n\n',
];

function mulberry32(seed) {
	let state = seed >>> 0;
	return () => {
		state = (state + 0x6D2B79F5) >>> 0;
		let t = state;
		t = Math.imul(t ^ (t >>> 15), t | 1);
		t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
		return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
	};
}

/** About 1.3 tokens per word plus the chat template, like a llama tokenizer. */
export function countPromptTokens(text) {
	const words = String(text ?? '').split(/\s+/).filter(Boolean).length;
	return Math.max(1, Math.ceil(words * 1.3)) + 10;
}

/**
 * The prompt as token ids, countPromptTokens(text) of them: 10 for the chat template, then about 1.3 per word, each id
 * from its word and position. A prompt that extends another (the next turn of a chat) starts with the same ids, which
 * is what a prompt cache matches on.
 */
export function promptTokenIds(text) {
	const words = String(text ?? '').split(/\s+/).filter(Boolean);
	const count = countPromptTokens(text);
	const ids = Array.from({length: 10}, (_, index) => 128_000 + index);
	for (let k = 0; ids.length < count; k++) {
		const word = words[Math.min(words.length - 1, Math.floor((k * 10) / 13))] ?? '';
		ids.push(hash32(`${word}|${k}`) % 128_000);
	}

	return ids;
}

export function defaultTokenCount(prompt) {
	return 8 + (hash32(String(prompt ?? '')) % 32);
}

/** The i-th output token for a prompt, including its leading space. */
export function tokenText(prompt, index) {
	const random = mulberry32(hash32(String(prompt ?? '')) + index * 7919);
	const word = WORDS[Math.floor(random() * WORDS.length)];
	if (index === 0 || /^[.,;:!]$/.test(word) || word === '\n\n') {
		return word;
	}

	return ` ${word}`;
}

export function contextTokens(prompt, outputCount) {
	const count = countPromptTokens(prompt) + outputCount;
	const random = mulberry32(hash32(`ctx:${prompt}`));
	return Array.from({length: count}, () => 100 + Math.floor(random() * 250_000));
}

export function embeddingVector(text, length) {
	const random = mulberry32(hash32(`emb:${text}`));
	const vector = Array.from({length}, () => random() * 2 - 1);
	const norm = Math.hypot(...vector) || 1;
	return vector.map(value => Math.fround(value / norm));
}
