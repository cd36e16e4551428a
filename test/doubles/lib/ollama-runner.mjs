// `ollama runner --model PATH --port N`: the per-model child process of the fake server. It holds no
// model; it exists so that process trees, pids and cleanup look like the real thing.
import {slog} from './ollama-log.mjs';

export function runner(argv) {
	const port = argv[argv.indexOf('--port') + 1];
	slog('INFO', 'runner.go:1006', 'starting go runner');
	slog('INFO', 'runner.go:1043', 'Server listening on 127.0.0.1:' + port);
	return new Promise(resolve => {
		// The server holds our stdin; when it goes away, for whatever reason, so do we.
		process.stdin.on('end', () => resolve(0));
		process.stdin.on('error', () => resolve(0));
		process.stdin.resume();
		process.on('SIGTERM', () => resolve(0));
		process.on('SIGINT', () => resolve(0));
	});
}
