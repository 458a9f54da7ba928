/** Checks before upload, so a visitor hears about a wrong file at once (the gateway checks again). */

export const ACCEPTED_TYPES = ["image/jpeg", "image/png", "image/webp"];

const megabytes = (bytes: number) => `${+(bytes / 1024 / 1024).toFixed(1)} MB`;

/** `maxBytes`: the stack's upload limit from the models view (`max_upload_bytes`); while it is not
 * known yet, the gateway alone judges the size. */
export function checkFile(file: File, maxBytes: number | null): string | null {
  if (!ACCEPTED_TYPES.includes(file.type)) {
    return `${file.name} is not a JPEG, PNG or WebP image.`;
  }
  if (maxBytes !== null && file.size > maxBytes) {
    return `${file.name} is ${megabytes(file.size)}; the limit is ${megabytes(maxBytes)}.`;
  }
  if (file.size === 0) {
    return `${file.name} is empty.`;
  }
  return null;
}
