// Fails when a TypeScript file the repository tracks is over 300 lines: past that, a file is doing more than one job.
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";

const maxLines = 300;
const files = execFileSync("git", ["ls-files", "--cached", "--others", "--exclude-standard", "*.ts"], {
  encoding: "utf8",
})
  .split("\n")
  .filter(Boolean);
const tooLong = files
  .map((file) => {
    try {
      return { file, lines: readFileSync(file, "utf8").split("\n").length - 1 };
    } catch {
      return { file, lines: 0 }; // deleted in the work tree
    }
  })
  .filter(({ lines }) => lines > maxLines);
for (const { file, lines } of tooLong) console.error(`${file}: ${lines} lines (at most ${maxLines})`);
if (tooLong.length > 0) process.exit(1);
console.log(`${files.length} TypeScript files, none over ${maxLines} lines`);
