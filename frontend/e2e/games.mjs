// The page names the served model's games, in Debian's Chromium (playwright-core) against the real stack.
// tests/e2e/test_adding_a_game.py starts a stack serving a model trained on an operator's games table and
// runs this file. Env: BASE_URL, GAMES (the display names the page must show, a JSON array), OUT_DIR
// (games.png, the page as it was checked), CHROMIUM (browser path).
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";

const out = process.env.OUT_DIR ?? "test-results";
mkdirSync(out, { recursive: true });
const expected = JSON.parse(process.env.GAMES);

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"],
});
const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
try {
  await page.goto(process.env.BASE_URL);
  const footer = page.getByTestId("games");
  await footer.waitFor({ timeout: 30_000 });
  const text = await footer.innerText();
  const missing = expected.filter((name) => !text.includes(name));
  await page.screenshot({ path: join(out, "games.png"), fullPage: true });
  if (missing.length) throw new Error(`the footer lacks ${missing.join(", ")}: ${text}`);
  console.log(`ok   games: ${text}`);
} catch (error) {
  console.error(`FAIL games: ${error.message}`);
  process.exitCode = 1;
} finally {
  await browser.close();
}
