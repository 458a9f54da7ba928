/** Share links: the page at /s/<id> shows an answer someone chose to share. The gateway makes the id when
 * they ask (`POST /api/v1/shares`, with the image itself): 128 random bits that say nothing about the
 * image, dead with the cached answer they copy. Links of the older kind, /r/<sha256>, named the image's
 * hash; they are retired and show nothing. */

const SHARED_PATH = /^\/s\/([A-Za-z0-9_-]{22})\/?$/;
const RETIRED_PATH = /^\/r\/[0-9a-f]{64}\/?$/;

export type Page = { kind: "home" } | { kind: "shared"; id: string } | { kind: "retired" };

/** The full address of a share's page, from the site-relative one the gateway gives. */
export function shareLink(url: string): string {
  return `${window.location.origin}${url}`;
}

/** Which page a path is: a share's, a retired link's, or the home page (any other path). */
export function pageOf(pathname: string): Page {
  const id = SHARED_PATH.exec(pathname)?.[1];
  if (id) return { kind: "shared", id };
  return RETIRED_PATH.test(pathname) ? { kind: "retired" } : { kind: "home" };
}
