// What the client knows of one room: its messages ordered and deduplicated by `seq`
// (the server delivers at least once, and history pages overlap live traffic), how far
// the room has got, what this user has acknowledged, and who is present.

export class Timeline {
  /** Message seqs held, ascending. */
  #seqs = [];
  #bySeq = new Map();

  constructor(name) {
    this.name = name;
    /** The room's highest seq as far as this client knows. */
    this.lastSeq = 0;
    /** The highest seq this user has acknowledged (the server's cursor, or ours). */
    this.ackedSeq = 0;
    /** Whether history older than the oldest message held remains to be read. */
    this.hasOlder = true;
    /** Whether the newest page of history has been read over HTTP. */
    this.historyLoaded = false;
    /** Present members by id. */
    this.present = new Map();
  }

  get unread() {
    return Math.max(0, this.lastSeq - this.ackedSeq);
  }

  get oldestSeq() {
    return this.#seqs[0] ?? null;
  }

  get newestSeq() {
    return this.#seqs.at(-1) ?? null;
  }

  get messages() {
    return this.#seqs.map((seq) => this.#bySeq.get(seq));
  }

  /** Notes that the room has reached `seq`. */
  reached(seq) {
    this.lastSeq = Math.max(this.lastSeq, seq);
  }

  /**
   * Adds a message; returns its position among those held, or -1 when it was held
   * already (a replay after a reconnect, or a page overlapping live traffic).
   */
  add(message) {
    this.reached(message.seq);
    if (this.#bySeq.has(message.seq)) return -1;
    this.#bySeq.set(message.seq, message);
    let low = 0;
    let high = this.#seqs.length;
    while (low < high) {
      const middle = (low + high) >> 1;
      if (this.#seqs[middle] < message.seq) low = middle + 1;
      else high = middle;
    }
    this.#seqs.splice(low, 0, message.seq);
    return low;
  }
}
