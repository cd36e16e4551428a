import {EventEmitter} from 'node:events';

type EventMap = Record<string, unknown[]>;

/** A Node EventEmitter whose event names and argument lists are checked by the compiler. */
export class TypedEmitter<Events extends EventMap> {
	readonly #emitter = new EventEmitter();

	constructor() {
		// Dashboards, metrics and the proxy may all listen to one engine.
		this.#emitter.setMaxListeners(50);
	}

	on<Name extends keyof Events & string>(name: Name, listener: (...args: Events[Name]) => void): () => void {
		this.#emitter.on(name, listener as (...args: unknown[]) => void);
		return () => this.off(name, listener);
	}

	once<Name extends keyof Events & string>(name: Name, listener: (...args: Events[Name]) => void): void {
		this.#emitter.once(name, listener as (...args: unknown[]) => void);
	}

	off<Name extends keyof Events & string>(name: Name, listener: (...args: Events[Name]) => void): void {
		this.#emitter.off(name, listener as (...args: unknown[]) => void);
	}

	protected emit<Name extends keyof Events & string>(name: Name, ...args: Events[Name]): void {
		this.#emitter.emit(name, ...args);
	}
}
