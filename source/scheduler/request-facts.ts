/**
 * What the scheduler knows of a request, read once when it arrives (source/proxy/intake.ts) and carried from there.
 * Model names are normalised (`llama3` → `llama3:latest`) at that border: everything in scheduler/ compares them as
 * they are.
 */
export type RequestFacts = {
	/** The model it names, normalised; undefined when it names none. */
	model: string | undefined;
	/** Who sent it, for fair sharing: its API key (hashed), its X-Ollama-Multi-Client, else its address. */
	clientId: string;
	/** Its share relative to other clients (X-Ollama-Multi-Priority; 1 = normal). */
	weight: number;
	/** num_predict / max_tokens: the most it may generate; undefined when unbounded. */
	limit: number | undefined;
	/** A rough prompt length in tokens, if it has a prompt. */
	promptTokens: number | undefined;
	/** options.num_ctx: the context a cold load allocates its KV cache for; undefined: the instance's default. */
	numCtx: number | undefined;
};

/** How far a running request has got, read live (the proxy's exchange provides it). */
export type Progress = {
	readonly producedTokens: number;
	/** When its first output token passed; undefined while the model loads or the prompt is read. */
	readonly firstTokenAt: number | undefined;
};

export const noProgress: Progress = {producedTokens: 0, firstTokenAt: undefined};
