// Session storage only: the key is gone when the tab closes, and never written where another session reads it.
const storageKey = "evpipe.dashboard.apiKey";

/** Storage can be refused (a privacy setting); the page then simply asks again. */
export function storedKey(): string | undefined {
  try {
    return sessionStorage.getItem(storageKey) ?? undefined;
  } catch {
    return undefined;
  }
}

export function storeKey(key: string | undefined): void {
  try {
    if (key === undefined) sessionStorage.removeItem(storageKey);
    else sessionStorage.setItem(storageKey, key);
  } catch {
    // the key stays in the field for this page view
  }
}
