/** Why a request got no slot: the queue was full, or its client went away while it waited. */
export class QueueFullError extends Error {
	constructor(maxQueue: number) {
		super(`the request queue is full (${maxQueue} waiting); try again shortly`);
		this.name = 'QueueFullError';
	}
}

export class QueueAbortedError extends Error {
	constructor() {
		super('the client went away while the request was queued');
		this.name = 'QueueAbortedError';
	}
}
