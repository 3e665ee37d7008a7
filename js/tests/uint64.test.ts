import { describe, expect, it } from "vitest";
import { idToString, looksLikeId, parseUint64 } from "../shared/uint64";

describe("uint64 ids", () => {
  it("prints BigInt ids exactly (above 2^53)", () => {
    expect(idToString(864691135808684573n)).toBe("864691135808684573");
    expect(idToString(18446744073709551615n)).toBe("18446744073709551615");
    expect(idToString("00042")).toBe("42");
    expect(idToString(null)).toBe("");
  });

  it("refuses Numbers that already lost precision", () => {
    // biome-ignore lint/correctness/noPrecisionLoss: the point of the test: a Number that already lost digits
    expect(() => idToString(864691135808684573)).toThrow(RangeError);
    expect(idToString(12345)).toBe("12345");
  });

  it("parses decimal strings and rejects everything else", () => {
    expect(parseUint64(" 864691135808684573 ")).toBe(864691135808684573n);
    expect(() => parseUint64("-1")).toThrow(TypeError);
    expect(() => parseUint64("1e18")).toThrow(TypeError);
    expect(() => parseUint64("18446744073709551616")).toThrow(RangeError);
    expect(looksLikeId("864691135808684573")).toBe(true);
    expect(looksLikeId("abc")).toBe(false);
  });
});
