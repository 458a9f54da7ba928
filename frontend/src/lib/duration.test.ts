import { describe, expect, it } from "vitest";
import { spokenDuration } from "./duration";

describe("spokenDuration", () => {
  it("says whole days, hours and minutes as people do", () => {
    expect(spokenDuration(86400)).toBe("a day");
    expect(spokenDuration(2 * 86400)).toBe("2 days");
    expect(spokenDuration(6 * 3600)).toBe("6 hours");
    expect(spokenDuration(90 * 60)).toBe("90 minutes");
    expect(spokenDuration(60)).toBe("a minute");
    expect(spokenDuration(45)).toBe("45 seconds");
  });

  it("rounds what is not whole in the largest unit it holds twice", () => {
    expect(spokenDuration(3 * 86400 + 5)).toBe("about 3 days");
    expect(spokenDuration(5000)).toBe("about 83 minutes");
  });
});
