import net from 'node:net';
import {findRecordedHolder, type RecordedHolder} from './pid-registry.js';
import {findListeningProcess} from './port-holder.js';

export type PortClaim = {
	host: string;
	port: number;
	/** Who needs the port: 'proxy', or an instance id such as 'gpu1'. */
	purpose: string;
};

export class PortUnavailableError extends Error {
	override name = 'PortUnavailableError';

	constructor(message: string, readonly claim: PortClaim, readonly code: string) {
		super(message);
	}
}

/**
 * Throws a PortUnavailableError, with what to do about it, for the first port that cannot be bound. With
 * `stateDir`, a port held by an ollama-multi recorded there (or by an instance it started) is named as such.
 */
export async function assertPortsFree(claims: PortClaim[], options: {stateDir?: string} = {}): Promise<void> {
	for (const claim of claims) {
		 
		const code = await tryBind(claim.host, claim.port);
		if (code !== undefined) {
			const holderPid = code === 'EADDRINUSE' && options.stateDir !== undefined ? findListeningProcess(claim.port) : undefined;
			const holder = holderPid === undefined ? undefined : findRecordedHolder(options.stateDir!, holderPid);
			throw new PortUnavailableError(describePortProblem(claim, code, holder), claim, code);
		}
	}
}

async function tryBind(host: string, port: number): Promise<string | undefined> {
	return new Promise(resolve => {
		const server = net.createServer();
		server.once('error', (error: NodeJS.ErrnoException) => {
			resolve(error.code ?? error.message);
		});
		server.listen({host, port, exclusive: true}, () => {
			server.close(() => {
				resolve(undefined);
			});
		});
	});
}

export function describePortProblem(claim: PortClaim, code: string, holder?: RecordedHolder): string {
	const where = `${claim.host}:${claim.port}`;
	const isProxy = claim.purpose === 'proxy';
	const flag = isProxy ? `--port ${claim.port === 11_434 ? 11_435 : claim.port + 1}` : '--base-port <another port>';
	const role = isProxy ? 'the ollama-multi endpoint' : `instance ${claim.purpose}`;

	if (code === 'EADDRINUSE' && holder !== undefined) {
		return `Port ${where} (for ${role}) is held by ${describeHolder(holder)}, or pick another port with ${flag}. Nothing was started.`;
	}

	if (code === 'EADDRINUSE') {
		const cause = isProxy && claim.port === 11_434
			? 'Most likely the system Ollama service (ollama.service, installed by the Ollama installer) is running there: stop it with `sudo systemctl stop ollama` (and `sudo systemctl disable ollama` to keep it off after a reboot)'
			: 'Another program holds it (an `ollama serve`, or another ollama-multi?): `ss -ltnp \'sport = :' + claim.port + '\'` shows which';
		return `Port ${where} (for ${role}) is already in use. ${cause}, or pick another port with ${flag}. Nothing was started.`;
	}

	if (code === 'EACCES') {
		return `Not allowed to listen on ${where} (for ${role}): ports below 1024 need root. Pick another port with ${flag}. Nothing was started.`;
	}

	if (code === 'EADDRNOTAVAIL') {
		return `Cannot listen on ${where} (for ${role}): ${claim.host} is not an address of this machine. Check --host. Nothing was started.`;
	}

	return `Cannot listen on ${where} (for ${role}): ${code}. Nothing was started.`;
}

function describeHolder(holder: RecordedHolder): string {
	const supervisor = holder.supervisorPid;
	if (holder.supervisorRunning) {
		const what = holder.instanceId === undefined ? 'another ollama-multi' : `${holder.instanceId} (pid ${holder.pid}) of another ollama-multi`;
		return `${what}, still running as pid ${supervisor}: stop it first (q or Ctrl-C in its terminal, or \`kill ${supervisor}\`)`;
	}

	return `${holder.instanceId ?? 'an instance'} (pid ${holder.pid}), which an earlier ollama-multi (pid ${supervisor}) started and left behind when it was killed; `
		+ `it did not stop when asked (stuck in the NVIDIA driver? see \`dmesg\`): \`kill -9 ${holder.pid}\``;
}
