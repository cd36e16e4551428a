/** Keeps the last `capacity` items, oldest first. */
export class RingBuffer<Item> {
	readonly #items: Item[] = [];

	constructor(private readonly capacity: number) {}

	push(item: Item): void {
		this.#items.push(item);
		if (this.#items.length > this.capacity) {
			this.#items.splice(0, this.#items.length - this.capacity);
		}
	}

	last(count = this.capacity): Item[] {
		return count <= 0 ? [] : this.#items.slice(-count);
	}
}
