import { said } from "../lib/feedback";
import type { HistoryEntry } from "../lib/history";

const row = "flex items-center gap-3 rounded border border-ash/60 bg-crypt/60 p-2";

function Entry({ entry }: { entry: HistoryEntry }) {
  return (
    <>
      {entry.thumbnail ? (
        <img src={entry.thumbnail} alt="" className="h-9 w-16 rounded object-cover" />
      ) : (
        <span className="h-9 w-16 rounded bg-abyss" />
      )}
      <span className="min-w-0 flex-1">
        <span className="block truncate text-sm text-parchment" data-testid="history-name">
          {entry.label === "unknown" ? "Not recognised" : entry.name}
        </span>
        <span className="block text-xs text-moon">
          {(entry.confidence * 100).toFixed(1)}% · {new Date(entry.at).toLocaleString()}
        </span>
        {entry.feedback && (
          <span className="block truncate text-xs text-gaslamp" data-testid="history-feedback">
            You said {said(entry.feedback)}
            {entry.feedback.shared && " · screenshot shared"}
          </span>
        )}
      </span>
    </>
  );
}

/** The visitor's last results, from this browser's storage, with what the visitor said of each: each that
 * was shared links to its share page (an image's answer is never looked up by its hash). */
export function HistoryPanel({ entries, onClear }: { entries: HistoryEntry[]; onClear: () => void }) {
  return (
    <section aria-label="History" className="mt-10" data-testid="history">
      <div className="flex items-center justify-between gap-2">
        <h2 className="font-display text-xl text-parchment">Your last results</h2>
        <button
          type="button"
          onClick={onClear}
          disabled={entries.length === 0}
          className="rounded border border-ash px-3 py-1 text-sm text-moon hover:border-ember hover:text-ember disabled:opacity-40"
        >
          Clear
        </button>
      </div>
      <p className="mt-1 text-xs text-ash">Kept in this browser only, never sent anywhere; the last 50.</p>
      {entries.length === 0 ? (
        <p className="mt-3 text-sm text-moon">Nothing yet.</p>
      ) : (
        <ol className="mt-3 grid gap-2 sm:grid-cols-2 lg:grid-cols-3">
          {entries.map((entry) => (
            <li key={entry.sha256}>
              {entry.share ? (
                <a href={`/s/${entry.share}`} className={`${row} hover:border-gaslamp`}>
                  <Entry entry={entry} />
                </a>
              ) : (
                <div className={row}>
                  <Entry entry={entry} />
                </div>
              )}
            </li>
          ))}
        </ol>
      )}
    </section>
  );
}
