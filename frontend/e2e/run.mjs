// End-to-end scenarios in Debian's Chromium (driven by playwright-core; browsers cannot be downloaded
// here) against the real stack. tests/e2e/test_frontend_e2e.py starts the stack and runs this file.
// Env: BASE_URL, SCREENSHOT (a real screenshot), UNKNOWN_SCREENSHOT (a real screenshot the served model
// answers "Not recognised"), BATCH_SHOTS (five real screenshots, comma-separated), OUT_DIR (page
// screenshots, and feedback.json: the files voted on), CHROMIUM (browser path). The served model is trained on synthetic frames, so the page
// must say so before anything is dropped.
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";

const base = process.env.BASE_URL;
const shot = process.env.SCREENSHOT;
const unknownShot = process.env.UNKNOWN_SCREENSHOT;
const out = process.env.OUT_DIR ?? "test-results";
mkdirSync(out, { recursive: true });

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync"],
});
// The clipboard is granted so that "Copy link" can be read back.
const context = await browser.newContext({
  viewport: { width: 1280, height: 900 },
  permissions: ["clipboard-read", "clipboard-write"],
});
const page = await context.newPage();
const step = async (name, run) => {
  try {
    await run();
    await page.screenshot({ path: join(out, `${name}.png`), fullPage: true });
    console.log(`ok   ${name}`);
  } catch (error) {
    await page.screenshot({ path: join(out, `${name}-failed.png`), fullPage: true });
    console.error(`FAIL ${name}: ${error.message}`);
    await browser.close();
    process.exit(1);
  }
};
const cards = page.getByRole("article");
const upload = (files) => page.getByTestId("file-input").setInputFiles(files);

await page.goto(base);

const why = "This demo model learned from synthetic frames, not real screenshots";
await step("notice", async () => {
  const notice = page.getByTestId("synthetic-notice");
  await notice.waitFor({ timeout: 30_000 });
  const text = await notice.innerText();
  if (!text.includes(why) || !text.includes("make train-demo")) throw new Error(`unexpected notice: ${text}`);
  if (await cards.count()) throw new Error("the notice must show before anything is dropped");
});

await step("result", async () => {
  await upload(shot);
  const card = cards.first();
  await card.getByTestId("verdict").waitFor({ timeout: 60_000 });
  if ((await card.getByRole("meter").count()) !== 3) throw new Error("expected three top-k bars");
  if (await card.getByTestId("cached").count()) throw new Error("a first upload cannot come from the cache");
});

await step("not-recognised", async () => {
  await upload(unknownShot);
  const card = cards.first();
  await card.getByTestId("verdict").getByText("Not recognised").waitFor({ timeout: 60_000 });
  const text = await card.getByTestId("why-not-recognised").innerText();
  if (!text.includes(why)) throw new Error(`the card does not say why: ${text}`);
});

await step("heatmap", async () => {
  await cards.first().getByRole("checkbox", { name: "Where the model looked" }).check();
  await cards.first().getByTestId("heatmap").waitFor({ timeout: 60_000 });
});

await step("cached", async () => {
  await upload(shot);
  await cards.first().getByTestId("cached").waitFor({ timeout: 60_000 });
});

await step("unsupported", async () => {
  const fake = join(out, "notes-renamed.png");
  writeFileSync(fake, "these are my notes, not a screenshot");
  await upload(fake);
  const alert = cards.first().getByRole("alert");
  await alert.waitFor({ timeout: 30_000 });
  const text = await alert.innerText();
  if (!text.includes("not an image we accept")) throw new Error(`unexpected message: ${text}`);
});

await step("about", async () => {
  await page.getByRole("button", { name: "About the model" }).click();
  await page.getByTestId("about").getByText("It knows:").waitFor({ timeout: 30_000 });
});

await step("batch", async () => {
  const before = await cards.count();
  await upload(process.env.BATCH_SHOTS.split(","));
  await cards.nth(before + 4).waitFor({ timeout: 30_000 }); // five new cards, before the older ones
  for (let i = 0; i < 5; i += 1) await cards.nth(i).getByTestId("verdict").waitFor({ timeout: 60_000 });
});

// Two cards of the batch judged: Right on one, Wrong: Elden Ring with the consent box ticked on another
// (one the model did not call Elden Ring). Which files got which vote goes to OUT_DIR/feedback.json, for
// tests/e2e/test_frontend_e2e.py to find them in the database.
await step("feedback", async () => {
  const names = [];
  for (let i = 0; i < 5; i += 1) names.push(await cards.nth(i).getByTestId("verdict").innerText());
  const wrong = names.findIndex((name) => name !== "Elden Ring");
  if (wrong < 0) throw new Error("every card of the batch says Elden Ring: nothing to correct to it");
  const right = wrong === 0 ? 1 : 0;
  const fileOf = (card) => card.locator("p[title]").first().getAttribute("title");

  const rightCard = cards.nth(right);
  await rightCard.getByRole("button", { name: "Right", exact: true }).click();
  const thanked = await rightCard.getByTestId("feedback-thanks").innerText({ timeout: 30_000 });
  if (!thanked.includes("Thank you: you said it was right.")) throw new Error(`unexpected thanks: ${thanked}`);

  const wrongCard = cards.nth(wrong);
  const consent = wrongCard.getByRole("checkbox", { name: "Share this screenshot to improve the model" });
  if (await consent.isChecked()) throw new Error("the consent box must be off until ticked");
  await wrongCard.getByLabel("Wrong: it is").selectOption({ label: "Elden Ring" });
  await consent.check();
  await wrongCard.getByRole("button", { name: "Send correction" }).click();
  const corrected = await wrongCard.getByTestId("feedback-thanks").innerText({ timeout: 30_000 });
  if (!corrected.includes("you said it is Elden Ring.") || !corrected.includes("You shared the screenshot")) {
    throw new Error(`unexpected thanks: ${corrected}`);
  }
  const said = await page.getByTestId("history-feedback").allInnerTexts();
  if (!said.includes("You said it was right") || !said.includes("You said it is Elden Ring · screenshot shared")) {
    throw new Error(`the history does not say what was sent: ${JSON.stringify(said)}`);
  }
  writeFileSync(join(out, "feedback.json"), JSON.stringify({ right: await fileOf(rightCard), wrong: await fileOf(wrongCard) }));
});

let shared = "";
await step("share-link", async () => {
  const card = cards.first();
  const verdict = await card.getByTestId("verdict").innerText();
  await card.getByRole("button", { name: "Copy link" }).click();
  await card.getByText("Link copied").waitFor({ timeout: 10_000 });
  shared = await page.evaluate(() => navigator.clipboard.readText());
  // An id the gateway made for this answer (128 random bits), never the image's hash.
  if (!/\/s\/[A-Za-z0-9_-]{22}$/.test(shared)) throw new Error(`not a share link: ${shared}`);
  await page.goto(shared);
  const answer = page.getByRole("article").getByTestId("verdict");
  await answer.waitFor({ timeout: 30_000 });
  if ((await answer.innerText()) !== verdict) throw new Error(`the link shows ${await answer.innerText()}, not ${verdict}`);
  // The sharer's own history made this link: its thumbnail shows here, and only here.
  await page.getByRole("img", { name: "Your thumbnail of this screenshot" }).waitFor({ timeout: 10_000 });
  // The sharer's vote on this card (the feedback step judged the first card) shows here; changing it asks
  // for the screenshot again. A stranger, who holds no file, is told why there is nothing to press.
  const before = await page.getByTestId("feedback-thanks").innerText({ timeout: 10_000 });
  if (!before.startsWith("You said it")) throw new Error(`the sharer's vote is not shown: ${before}`);
  await page.getByRole("button", { name: "Change my answer" }).click();
  await page.getByTestId("feedback-file").waitFor({ timeout: 10_000 });
  const elsewhere = await browser.newContext(); // another browser: no history of this image
  const stranger = await elsewhere.newPage();
  await stranger.goto(shared);
  await stranger.getByTestId("feedback-needs-file").waitFor({ timeout: 30_000 });
  if (await stranger.getByRole("button", { name: "Right", exact: true }).count()) throw new Error("a stranger was offered feedback");
  await elsewhere.close();
});

await step("retired-link", async () => {
  await page.goto(`${base}/r/${"0".repeat(64)}`); // a link of the older kind, by an image's hash
  await page.getByTestId("retired-link").waitFor({ timeout: 30_000 });
  if (await page.getByTestId("verdict").count()) throw new Error("a retired link must show no answer");
});

await step("history", async () => {
  await page.goto(base);
  const names = page.getByTestId("history-name");
  await names.first().waitFor({ timeout: 30_000 });
  const kept = await names.count();
  if (kept < 5) throw new Error(`expected the last results in the history, found ${kept}`);
  await page.reload();
  await names.first().waitFor({ timeout: 30_000 });
  if ((await names.count()) !== kept) throw new Error("a reload lost part of the history");
  await page.getByTestId("history").getByRole("button", { name: "Clear" }).click();
  await page.getByTestId("history").getByText("Nothing yet.").waitFor({ timeout: 10_000 });
  await page.reload();
  await page.getByTestId("history").getByText("Nothing yet.").waitFor({ timeout: 30_000 });
});

await step("rate-limited", async () => {
  for (let i = 0; i < 45; i += 1) {
    await upload(shot);
    const card = cards.first();
    await card.locator("[data-testid=verdict], [role=alert]").first().waitFor({ timeout: 60_000 });
    if (await card.getByText(/You can try again in \d+ s\./).count()) return;
  }
  throw new Error("never saw the rate-limit countdown");
});

await browser.close();
