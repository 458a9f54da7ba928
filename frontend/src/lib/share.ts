/** Share links: the page at /r/<sha256> shows the answer the gateway's cache holds for that image
 * (`GET /api/v1/results/{sha256}`); the image itself is never stored or sent. */

const SHARED_PATH = /^\/r\/([0-9a-f]{64})\/?$/;

export function shareLink(sha256: string): string {
  return `${window.location.origin}/r/${sha256}`;
}

/** The image hash a share link's path names, or null for any other page. */
export function sharedHash(pathname: string): string | null {
  return SHARED_PATH.exec(pathname)?.[1] ?? null;
}
