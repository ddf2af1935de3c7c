// The HTTP side of Portico's API (docs/api.md) and the session's tokens.
//
// Where the tokens live (docs/security.md, "The browser client"): the access token in
// memory only; the refresh token in memory and in this tab's sessionStorage, so a reload
// keeps the user logged in and closing the tab forgets the session.

const REFRESH_TOKEN_KEY = "portico.refresh_token";
// Renew the access token this long before it expires, or at a quarter of its lifetime
// for short ones, so a slow network still renews in time.
const RENEWAL_LEAD_MS = 60_000;

/** An answer that was not a success: the problem document's fields, when there was one. */
export class ApiError extends Error {
  constructor(status, problem) {
    super(problem?.detail || problem?.title || `the server answered ${status}`);
    this.status = status;
    this.code = problem?.code ?? "unknown";
    this.fieldErrors = problem?.errors ?? [];
  }

  /** The message to show a person: the detail and each field's complaint. */
  describe() {
    const fields = this.fieldErrors.map((error) => `${error.field} ${error.message}`);
    return [this.message, ...fields].join("; ");
  }
}

/** `fetch`, with JSON in and out; a non-2xx answer throws an ApiError. */
async function request(method, path, { json, token } = {}) {
  const headers = {};
  if (json !== undefined) headers["content-type"] = "application/json";
  if (token) headers.authorization = `Bearer ${token}`;
  const response = await fetch(path, {
    method,
    headers,
    body: json === undefined ? undefined : JSON.stringify(json),
    cache: "no-store",
  });
  const text = await response.text();
  const body = text ? safeJson(text) : null;
  if (!response.ok) throw new ApiError(response.status, body);
  return body;
}

function safeJson(text) {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

/** A person's session: the token pair, refreshed as needed. */
export class Session {
  #accessToken = null;
  #expiresAt = 0;
  #refreshToken = sessionStorage.getItem(REFRESH_TOKEN_KEY);
  #refreshing = null;

  /** Whether there is a session to resume (a refresh token is held). */
  get canResume() {
    return this.#refreshToken !== null;
  }

  /** When the access token expires, in ms since the epoch. */
  get expiresAt() {
    return this.#expiresAt;
  }

  /** How long from now to renew the access token, in ms. */
  renewalDelay() {
    const lifetime = this.#expiresAt - Date.now();
    return Math.max(1_000, lifetime - Math.min(RENEWAL_LEAD_MS, lifetime / 4));
  }

  async register({ email, password, firstName, lastName }) {
    await request("POST", "/register", {
      json: { email, password, first_name: firstName, last_name: lastName },
    });
  }

  async logIn(email, password) {
    this.#keep(await request("POST", "/login", { json: { email, password } }));
  }

  /**
   * A new token pair for the refresh token held. One refresh at a time: the token is
   * single use, and presenting it twice would look like theft and end the session.
   */
  refresh() {
    this.#refreshing ??= this.#refreshOnce().finally(() => {
      this.#refreshing = null;
    });
    return this.#refreshing;
  }

  async #refreshOnce() {
    if (this.#refreshToken === null) throw new ApiError(401, { code: "missing_token" });
    try {
      this.#keep(
        await request("POST", "/refresh", { json: { refresh_token: this.#refreshToken } }),
      );
    } catch (error) {
      // A refused refresh token will never work again; a network failure might.
      if (error instanceof ApiError && error.status === 401) this.forget();
      throw error;
    }
    return this.#accessToken;
  }

  /** An access token that is not about to expire, refreshed if needed. */
  async accessToken() {
    if (this.#accessToken === null || Date.now() > this.#expiresAt - 5_000) {
      return this.refresh();
    }
    return this.#accessToken;
  }

  /**
   * Whether the access token is still accepted (`GET /users/me`); refreshes it when it is
   * refused. Used when a WebSocket upgrade failed: a browser does not say whether it
   * was answered 401 or never reached the server.
   */
  async revalidate() {
    try {
      await request("GET", "/users/me", { token: this.#accessToken });
    } catch (error) {
      if (!(error instanceof ApiError && error.status === 401)) throw error;
      await this.refresh();
    }
  }

  /** A request with the access token, retried once with a fresh one if it was refused. */
  async authorized(method, path, options = {}) {
    try {
      return await request(method, path, { ...options, token: await this.accessToken() });
    } catch (error) {
      if (!(error instanceof ApiError && error.status === 401)) throw error;
      return request(method, path, { ...options, token: await this.refresh() });
    }
  }

  /** Ends the session on the server (best effort) and forgets it here. */
  async logOut() {
    const refreshToken = this.#refreshToken;
    this.forget();
    if (refreshToken === null) return;
    await request("POST", "/logout", { json: { refresh_token: refreshToken } });
  }

  forget() {
    this.#accessToken = null;
    this.#expiresAt = 0;
    this.#refreshToken = null;
    sessionStorage.removeItem(REFRESH_TOKEN_KEY);
  }

  #keep(pair) {
    this.#accessToken = pair.access_token;
    this.#expiresAt = Date.now() + pair.expires_in * 1_000;
    this.#refreshToken = pair.refresh_token;
    sessionStorage.setItem(REFRESH_TOKEN_KEY, pair.refresh_token);
  }
}
