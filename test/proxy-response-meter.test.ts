import assert from 'node:assert/strict';
import {test} from 'node:test';
import {ResponseMeter, streamFormatOf} from '../source/proxy/response-meter.js';

/** Feeds the text in pieces of every size from 1 byte up, so lines and UTF-8 characters split across chunks. */
function meterAll(format: 'ndjson' | 'sse' | 'json', text: string) {
	const bytes = Buffer.from(text);
	const readings = [];
	for (const size of [1, 2, 3, 7, 64, bytes.length]) {
		let live = 0;
		const meter = new ResponseMeter(format, count => {
			live += count;
		});
		for (let offset = 0; offset < bytes.length; offset += size) {
			meter.push(bytes.subarray(offset, offset + size));
		}

		const reading = meter.finish();
		assert.equal(live, reading.outputTokens, 'live reports add up to the final count');
		readings.push(reading);
	}

	for (const reading of readings) {
		assert.deepEqual(reading, readings[0]);
	}

	return readings[0]!;
}

test('NDJSON: the final chunk eval_count wins over the chunk count', () => {
	const text = [
		'{"model":"m","response":"Hé","done":false}',
		'{"model":"m","response":"llo 😊","done":false}',
		'{"model":"m","response":"","done":true,"prompt_eval_count":11,"eval_count":5,"eval_duration":2500000}',
		'',
	].join('\n');
	const reading = meterAll('ndjson', text);
	assert.equal(reading.outputTokens, 5);
	assert.equal(reading.promptTokens, 11);
	assert.equal(reading.evalDurationMs, 2.5);
	assert.equal(reading.source, 'eval_count');
});

test('NDJSON without a final chunk (cut short): one token per chunk', () => {
	const reading = meterAll('ndjson', '{"message":{"content":"a"},"done":false}\n{"message":{"content":"b"},"done":false}\n');
	assert.equal(reading.outputTokens, 2);
	assert.equal(reading.source, 'chunks');
});

test('stream:false JSON reads eval_count', () => {
	const reading = meterAll('json', '{"model":"m","response":"hi","done":true,"context":[1,2],"prompt_eval_count":3,"eval_count":65,"eval_duration":1000000}');
	assert.equal(reading.outputTokens, 65);
	assert.equal(reading.promptTokens, 3);
});

test('OpenAI SSE with include_usage reads usage', () => {
	const chunk = (content: string) => `data: {"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"role":"assistant","content":"${content}"}}]}\n\n`;
	const text =
		chunk('Hel') +
		chunk('lo') +
		'data: {"id":"c","object":"chat.completion.chunk","choices":[],"usage":{"prompt_tokens":9,"completion_tokens":7,"total_tokens":16}}\n\n' +
		'data: [DONE]\n\n';
	const reading = meterAll('sse', text);
	assert.equal(reading.outputTokens, 7);
	assert.equal(reading.promptTokens, 9);
	assert.equal(reading.source, 'usage');
});

test('OpenAI SSE without usage counts content chunks; CRLF line ends too', () => {
	const text = 'data: {"choices":[{"delta":{"content":"a"}}]}\r\n\r\ndata: {"choices":[{"delta":{"content":"b"}}]}\r\n\r\ndata: [DONE]\r\n\r\n';
	const reading = meterAll('sse', text);
	assert.equal(reading.outputTokens, 2);
	assert.equal(reading.source, 'chunks');
});

test('Anthropic and Responses API SSE read their nested usage', () => {
	const anthropic =
		'event: message_start\ndata: {"type":"message_start","message":{"usage":{"input_tokens":12,"output_tokens":1}}}\n\n' +
		'event: content_block_delta\ndata: {"type":"content_block_delta","delta":{"type":"text_delta","text":"Hi"}}\n\n' +
		'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":4}}\n\n';
	const a = meterAll('sse', anthropic);
	assert.equal(a.outputTokens, 4);
	assert.equal(a.promptTokens, 12);

	const responses =
		'event: response.output_text.delta\ndata: {"type":"response.output_text.delta","delta":"Hi"}\n\n' +
		'event: response.completed\ndata: {"type":"response.completed","response":{"usage":{"input_tokens":5,"output_tokens":3}}}\n\n';
	assert.equal(meterAll('sse', responses).outputTokens, 3);
});

test('OpenAI JSON (not streamed) reads usage', () => {
	const reading = meterAll('json', '{"id":"x","choices":[{"message":{"content":"hi"}}],"usage":{"prompt_tokens":4,"completion_tokens":2,"total_tokens":6}}');
	assert.equal(reading.outputTokens, 2);
	assert.equal(reading.promptTokens, 4);
});

test('content types map to formats', () => {
	assert.equal(streamFormatOf('application/x-ndjson'), 'ndjson');
	assert.equal(streamFormatOf('text/event-stream; charset=utf-8'), 'sse');
	assert.equal(streamFormatOf('application/json; charset=utf-8'), 'json');
	assert.equal(streamFormatOf('text/plain'), 'other');
	assert.equal(streamFormatOf(undefined), 'other');
});
