// Expiry dates for stored states. The stored tokenExpiresAt is 120 s before Miro's real expiry
// (lib/state.ts), and for most of that margin the plugin refreshes in the background and goes
// on with the old token. A test that needs the next request to wait for the refresh (and use
// the new token) expires the state beyond what Miro still accepts.

/** Expired beyond Miro's acceptance: the next request refreshes in the foreground. */
export const PAST = (): string => new Date(Date.now() - 10 * 60_000).toISOString()

/** Inside the margin: expired by the stored date, still accepted by Miro (refresh ahead). */
export const IN_MARGIN = (): string => new Date(Date.now() - 1000).toISOString()
