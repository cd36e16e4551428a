import {readdirSync, readFileSync, readlinkSync} from 'node:fs';

/** Which process listens on a TCP port, from /proc (Linux); undefined when none is found or /proc cannot tell. */
export function findListeningProcess(port: number): number | undefined {
	const inodes = listeningSocketInodes(port);
	if (inodes.size === 0) {
		return undefined;
	}

	let pids: string[];
	try {
		pids = readdirSync('/proc').filter(entry => /^\d+$/.test(entry));
	} catch {
		return undefined;
	}

	for (const pid of pids) {
		let descriptors: string[];
		try {
			descriptors = readdirSync(`/proc/${pid}/fd`);
		} catch {
			// Another user's process, or gone.
			continue;
		}

		for (const descriptor of descriptors) {
			try {
				const target = readlinkSync(`/proc/${pid}/fd/${descriptor}`);
				if (inodes.has(target)) {
					return Number(pid);
				}
			} catch {}
		}
	}

	return undefined;
}

const listenState = '0A';

function listeningSocketInodes(port: number): Set<string> {
	const inodes = new Set<string>();
	for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
		let text: string;
		try {
			text = readFileSync(table, 'utf8');
		} catch {
			continue;
		}

		for (const line of text.split('\n').slice(1)) {
			// sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode
			const fields = line.trim().split(/\s+/);
			const localPort = Number.parseInt(fields[1]?.split(':')[1] ?? '', 16);
			if (localPort === port && fields[3] === listenState && fields[9] !== undefined && fields[9] !== '0') {
				inodes.add(`socket:[${fields[9]}]`);
			}
		}
	}

	return inodes;
}
