// The fake `ollama` command line: serve, runner, and thin HTTP clients of OLLAMA_HOST (contract: ../README.md).
import {loadFleet} from './fleet.mjs';
import {parseOllamaHost} from './ollama-env.mjs';

const CONNECT_ERROR = "Error: could not connect to ollama server, run 'ollama serve' to start it\n";

function baseUrl(env) {
	const address = parseOllamaHost(env.OLLAMA_HOST);
	let {host} = address;
	if (host === '' || host === '0.0.0.0') {
		host = '127.0.0.1';
	} else if (host === '::') {
		host = '::1';
	}

	return `${address.scheme}://${host.includes(':') ? `[${host}]` : host}:${address.port}`;
}

async function request(env, method, pathname, body) {
	try {
		return await fetch(`${baseUrl(env)}${pathname}`, {
			method,
			headers: body ? {'Content-Type': 'application/json'} : {},
			body: body ? JSON.stringify(body) : undefined,
		});
	} catch {
		process.stderr.write(CONNECT_ERROR);
		process.exit(1);
	}
}

async function failOn(response) {
	if (response.ok) {
		return;
	}

	let message = await response.text();
	try {
		message = JSON.parse(message).error ?? message;
	} catch {}

	process.stderr.write(`Error: ${message}\n`);
	process.exit(1);
}

function humanBytes(bytes) {
	if (bytes >= 1e9) {
		return `${(bytes / 1e9).toFixed(1)} GB`;
	}

	return bytes >= 1e6 ? `${Math.round(bytes / 1e6)} MB` : `${Math.round(bytes / 1e3)} KB`;
}

function ago(date) {
	const seconds = Math.max(0, (Date.now() - new Date(date).getTime()) / 1000);
	if (seconds < 60) {
		return 'Less than a minute ago';
	}

	if (seconds < 3600) {
		const minutes = Math.round(seconds / 60);
		return `${minutes} minute${minutes === 1 ? '' : 's'} ago`;
	}

	const hours = Math.round(seconds / 3600);
	return hours < 48 ? `${hours} hours ago` : `${Math.round(hours / 24)} days ago`;
}

function untilText(date) {
	const seconds = (new Date(date).getTime() - Date.now()) / 1000;
	if (seconds > 100 * 365 * 86_400) {
		return 'Forever';
	}

	if (seconds < 60) {
		return 'Less than a minute from now';
	}

	const minutes = Math.round(seconds / 60);
	return `${minutes} minute${minutes === 1 ? '' : 's'} from now`;
}

function printTable(rows) {
	const widths = rows[0].map((_cell, column) => Math.max(...rows.map(row => String(row[column]).length)));
	for (const row of rows) {
		process.stdout.write(row.map((cell, column) => String(cell).padEnd(widths[column] + 4)).join('').trimEnd() + '    \n');
	}
}

async function readNdjson(response, onEvent) {
	const decoder = new TextDecoder();
	let buffer = '';
	for await (const chunk of response.body) {
		buffer += decoder.decode(chunk, {stream: true});
		let newline;
		while ((newline = buffer.indexOf('\n')) !== -1) {
			const line = buffer.slice(0, newline).trim();
			buffer = buffer.slice(newline + 1);
			if (line) {
				onEvent(JSON.parse(line));
			}
		}
	}
}

export async function main(argv, env = process.env) {
	const [command, ...rest] = argv;
	switch (command) {
		case 'serve':
		case 'start': {
			const {serve} = await import('./ollama-server.mjs');
			return serve(env);
		}

		case 'runner': {
			const {runner} = await import('./ollama-runner.mjs');
			return runner(rest);
		}

		case '-v':
		case '--version':
		case 'version': {
			const version = env.FAKE_OLLAMA_VERSION || loadFleet(env).ollamaVersion;
			let server;
			try {
				const response = await fetch(`${baseUrl(env)}/api/version`, {signal: AbortSignal.timeout(500)});
				server = (await response.json()).version;
			} catch {}

			if (server === undefined) {
				process.stdout.write('Warning: could not connect to a running Ollama instance\n');
				process.stdout.write(`Warning: client version is ${version}\n`);
			} else {
				process.stdout.write(`ollama version is ${server}\n`);
			}

			return 0;
		}

		case 'list':
		case 'ls': {
			const response = await request(env, 'GET', '/api/tags');
			await failOn(response);
			const {models} = await response.json();
			printTable([['NAME', 'ID', 'SIZE', 'MODIFIED'], ...models.map(model => [model.name, model.digest.slice(0, 12), humanBytes(model.size), ago(model.modified_at)])]);
			return 0;
		}

		case 'ps': {
			const response = await request(env, 'GET', '/api/ps');
			await failOn(response);
			const {models} = await response.json();
			printTable([['NAME', 'ID', 'SIZE', 'PROCESSOR', 'CONTEXT', 'UNTIL'], ...models.map(model => {
				const gpuShare = model.size === 0 ? 0 : Math.round((model.size_vram / model.size) * 100);
				const processor = gpuShare === 100 ? '100% GPU' : (gpuShare === 0 ? '100% CPU' : `${100 - gpuShare}%/${gpuShare}% CPU/GPU`);
				return [model.name, model.digest.slice(0, 12), humanBytes(model.size), processor, model.context_length, untilText(model.expires_at)];
			})]);
			return 0;
		}

		case 'pull': {
			const response = await request(env, 'POST', '/api/pull', {model: rest[0]});
			await failOn(response);
			let failed = false;
			await readNdjson(response, event => {
				if (event.error) {
					process.stderr.write(`Error: ${event.error}\n`);
					failed = true;
				} else {
					process.stderr.write(`${event.status}${event.total ? ` ${Math.round(((event.completed ?? 0) / event.total) * 100)}%` : ''}\n`);
				}
			});
			return failed ? 1 : 0;
		}

		case 'run': {
			const [model, ...words] = rest.filter(argument => !argument.startsWith('-'));
			const response = await request(env, 'POST', '/api/generate', {model, prompt: words.join(' ')});
			await failOn(response);
			await readNdjson(response, event => {
				if (event.error) {
					process.stderr.write(`Error: ${event.error}\n`);
				} else if (event.response) {
					process.stdout.write(event.response);
				}
			});
			process.stdout.write('\n\n');
			return 0;
		}

		case 'stop': {
			const response = await request(env, 'POST', '/api/generate', {model: rest[0], keep_alive: 0});
			await failOn(response);
			return 0;
		}

		case 'rm': {
			for (const model of rest) {
				 
				const response = await request(env, 'DELETE', '/api/delete', {model});
				 
				await failOn(response);
				process.stdout.write(`deleted '${model}'\n`);
			}

			return 0;
		}

		case 'cp': {
			const response = await request(env, 'POST', '/api/copy', {source: rest[0], destination: rest[1]});
			await failOn(response);
			process.stdout.write(`copied '${rest[0]}' to '${rest[1]}'\n`);
			return 0;
		}

		case 'show': {
			const response = await request(env, 'POST', '/api/show', {model: rest[0]});
			await failOn(response);
			process.stdout.write(JSON.stringify(await response.json(), null, 2) + '\n');
			return 0;
		}

		case undefined:
		case 'help':
		case '-h':
		case '--help': {
			process.stdout.write('Large language model runner\n\nUsage:\n  ollama [flags]\n  ollama [command]\n\nAvailable Commands:\n  serve       Start ollama\n  show        Show information for a model\n  run         Run a model\n  stop        Stop a running model\n  pull        Pull a model from a registry\n  list        List models\n  ps          List running models\n  cp          Copy a model\n  rm          Remove a model\n  help        Help about any command\n\nFlags:\n  -h, --help      help for ollama\n  -v, --version   Show version information\n\nUse "ollama [command] --help" for more information about a command.\n');
			return 0;
		}

		default: {
			process.stderr.write(`Error: unknown command "${command}" for "ollama"\n`);
			return 1;
		}
	}
}
