import { useEffect, useState } from "react";

/** Whole seconds left of `seconds` counted from the first render; 0 when there is nothing to wait for. */
export function useCountdown(seconds: number | null): number {
  const [deadline] = useState(() => Date.now() + (seconds ?? 0) * 1000);
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    if (!seconds) return;
    const timer = setInterval(() => {
      const t = Date.now();
      setNow(t);
      if (t >= deadline) clearInterval(timer);
    }, 250);
    return () => clearInterval(timer);
  }, [seconds, deadline]);
  return Math.max(0, Math.ceil((deadline - now) / 1000));
}
