// The key pair `ollama serve` makes at start when $HOME/.ollama/id_ed25519 is missing (cmd/cmd.go:2033-2076 at
// v0.33.0-rc2, the same in 0.12.3): stat, then two plain writes (private key, then public key), no lock, no temp
// file. Servers that start together with a fresh HOME all see the file missing and all write: the race item 13 is about.
// FAKE_OLLAMA_KEY_WRITE_MS spreads the steps so a test can show it.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import {stateDir} from './fleet.mjs';

const sleep = ms => new Promise(resolve => {
	setTimeout(resolve, ms);
});

function sshString(buffer) {
	const length = Buffer.alloc(4);
	length.writeUInt32BE(buffer.length);
	return Buffer.concat([length, buffer]);
}

/** The ed25519 public key as `ssh-ed25519 AAAA…` (ssh.MarshalAuthorizedKey). */
export function authorizedKey(publicKey) {
	const blob = Buffer.concat([sshString(Buffer.from('ssh-ed25519')), sshString(publicKey)]);
	return `ssh-ed25519 ${blob.toString('base64')}\n`;
}

/** An unencrypted openssh-key-v1 PEM (ssh.MarshalPrivateKey with an empty comment). */
function opensshPrivateKey(seed, publicKey) {
	const check = crypto.randomBytes(4);
	let inner = Buffer.concat([
		check, check,
		sshString(Buffer.from('ssh-ed25519')), sshString(publicKey),
		sshString(Buffer.concat([seed, publicKey])), sshString(Buffer.alloc(0)),
	]);
	const padding = [];
	for (let index = 1; inner.length % 8 !== 0; index++) {
		padding.push(index);
		inner = Buffer.concat([inner, Buffer.from([index])]);
	}

	const body = Buffer.concat([
		Buffer.from('openssh-key-v1\0'),
		sshString(Buffer.from('none')), sshString(Buffer.from('none')), sshString(Buffer.alloc(0)),
		Buffer.from([0, 0, 0, 1]),
		sshString(Buffer.concat([sshString(Buffer.from('ssh-ed25519')), sshString(publicKey)])),
		sshString(inner),
	]);
	const lines = body.toString('base64').match(/.{1,70}/g);
	return `-----BEGIN OPENSSH PRIVATE KEY-----\n${lines.join('\n')}\n-----END OPENSSH PRIVATE KEY-----\n`;
}

/** The public key an OpenSSH private key file holds, as an authorized_keys line; undefined when unreadable. */
export function publicKeyOfPrivateFile(text) {
	const base64 = /-----BEGIN OPENSSH PRIVATE KEY-----([\s\S]*?)-----END OPENSSH PRIVATE KEY-----/.exec(text)?.[1]?.replace(/\s+/g, '');
	if (!base64) {
		return undefined;
	}

	const body = Buffer.from(base64, 'base64');
	let offset = 'openssh-key-v1\0'.length;
	const readString = () => {
		const length = body.readUInt32BE(offset);
		const value = body.subarray(offset + 4, offset + 4 + length);
		offset += 4 + length;
		return value;
	};

	try {
		readString();
		readString();
		readString();
		offset += 4;
		const publicBlob = readString();
		return `ssh-ed25519 ${publicBlob.toString('base64')}\n`;
	} catch {
		return undefined;
	}
}

/** Makes the key pair if the private key is missing; resolves once written (or at once when it exists). */
export async function ensureKeyPair(env) {
	const home = env.HOME || process.env.HOME;
	if (!home) {
		return;
	}

	const file = path.join(home, '.ollama', 'id_ed25519');
	if (fs.existsSync(file)) {
		return;
	}

	const stepMs = Number(env.FAKE_OLLAMA_KEY_WRITE_MS || 0);
	process.stdout.write(`Couldn't find '${file}'. Generating new private key.\n`);
	try {
		// Not Ollama's: a note per generation, so a test can count the servers that raced.
		fs.mkdirSync(stateDir(env), {recursive: true});
		fs.writeFileSync(path.join(stateDir(env), `keypair-${process.pid}`), file);
	} catch {}

	const {publicKey, privateKey} = crypto.generateKeyPairSync('ed25519');
	const raw = Buffer.from(publicKey.export({format: 'jwk'}).x, 'base64url');
	const seed = Buffer.from(privateKey.export({format: 'jwk'}).d, 'base64url');
	const pem = opensshPrivateKey(seed, raw);
	await sleep(stepMs);
	fs.mkdirSync(path.dirname(file), {recursive: true, mode: 0o755});
	// os.WriteFile: truncate, then write; a reader in between sees a short file.
	fs.writeFileSync(file, pem.slice(0, pem.length >> 1), {mode: 0o600});
	await sleep(stepMs);
	fs.appendFileSync(file, pem.slice(pem.length >> 1));
	await sleep(stepMs);
	fs.writeFileSync(`${file}.pub`, authorizedKey(raw), {mode: 0o644});
	process.stdout.write(`Your new public key is: \n\n${authorizedKey(raw)}\n`);
}
