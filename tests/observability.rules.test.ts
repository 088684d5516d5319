import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { alertRulesFile, alertRulesTestFile, runPromtool } from "./support/prometheus.ts";

const rulesText = readFileSync(alertRulesFile, "utf8");
const testsText = readFileSync(alertRulesTestFile, "utf8");
const alertNames = [...rulesText.matchAll(/^\s+- alert: (\S+)$/gm)].map((match) => match[1] as string);

describe("alert rules", () => {
  it("are valid for promtool check rules", async () => {
    const result = await runPromtool(["check", "rules", alertRulesFile]);
    expect(result.code, `${result.stdout}${result.stderr}`).toBe(0);
    expect(result.stdout).toContain(`SUCCESS: ${alertNames.length} rules found`);
  });

  it("pass their promtool unit tests", async () => {
    const result = await runPromtool(["test", "rules", alertRulesTestFile]);
    expect(result.code, `${result.stdout}${result.stderr}`).toBe(0);
    expect(result.stdout).toContain("SUCCESS");
    expect(`${result.stdout}${result.stderr}`).not.toContain("FAILED");
  });

  it("each have a unit test where they fire and one where they must not", () => {
    expect(alertNames.length).toBe(11);
    for (const name of alertNames) {
      expect(testsText, `${name} never fires in alerts.test.yml`).toMatch(
        new RegExp(`alertname: ${name}\\n\\s+exp_alerts:\\n\\s+- exp_labels:`),
      );
      expect(testsText, `${name} is never held back in alerts.test.yml`).toMatch(
        new RegExp(`alertname: ${name}\\n\\s+exp_alerts: \\[\\]`),
      );
    }
  });
});
