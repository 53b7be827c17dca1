import { describe, expect, it } from "vitest";
import { type ReapSubject, reapVerdict } from "./reap-verdict.js";

const NOW = 1_000_000;

const session = (fields: Partial<Extract<ReapSubject, { kind: "session" }>>): ReapSubject => ({
  kind: "session",
  expiresAt: NOW + 60,
  ended: false,
  warm: false,
  ...fields,
});

const oneShot = (fields: Partial<Extract<ReapSubject, { kind: "one-shot" }>>): ReapSubject => ({
  kind: "one-shot",
  deadline: NOW + 60,
  createdAt: NOW - 10,
  state: "running",
  warm: false,
  ...fields,
});

describe("reapVerdict", () => {
  it.each<[string, ReapSubject, { remove: boolean; session?: boolean; reason: string }]>([
    ["a session before its expiry stays", session({}), { remove: false, reason: "not expired" }],
    [
      "a session at its expiry goes, its work stopped first",
      session({ expiresAt: NOW }),
      { remove: true, session: true, reason: "expired" },
    ],
    [
      "a session whose sandbox ended goes before its expiry",
      session({ ended: true }),
      { remove: true, session: true, reason: "its sandbox has ended" },
    ],
    ["a warm session sandbox within its age limit stays", session({ warm: true }), { remove: false, reason: "warm, within its age limit" }],
    [
      "a warm session sandbox past its age limit goes, as no session",
      session({ warm: true, expiresAt: NOW - 1 }),
      { remove: true, session: false, reason: "warm past its age limit" },
    ],
    [
      "a warm session sandbox that ended goes, as no session",
      session({ warm: true, ended: true }),
      { remove: true, session: false, reason: "its sandbox has ended" },
    ],
    [
      "a session sandbox created but not started yet stays: its server is starting it",
      session({ notStartedSince: NOW - 1 }),
      { remove: false, reason: "starting" },
    ],
    [
      "a warm session sandbox created but not started yet stays",
      session({ warm: true, notStartedSince: NOW - 1 }),
      { remove: false, reason: "starting" },
    ],
    [
      "a session sandbox never started long after its creation goes (its server died in between)",
      session({ notStartedSince: NOW - 61 }),
      { remove: true, session: true, reason: "created but never started" },
    ],
    [
      "a session sandbox not started 6 s after its creation stays: a request waits on its start",
      session({ notStartedSince: NOW - 6 }),
      { remove: false, reason: "starting" },
    ],
    [
      "a warm session sandbox never started 6 s after its creation goes, as no session (its server died in between)",
      session({ warm: true, notStartedSince: NOW - 6 }),
      { remove: true, session: false, reason: "created but never started" },
    ],
    [
      "a session sandbox not started yet but past its expiry goes",
      session({ notStartedSince: NOW - 1, expiresAt: NOW }),
      { remove: true, session: true, reason: "expired" },
    ],
    ["a running one-shot sandbox before its deadline stays", oneShot({}), { remove: false, reason: "running" }],
    [
      "a running one-shot sandbox within the grace after its deadline stays",
      oneShot({ deadline: NOW - 60 }),
      { remove: false, reason: "running" },
    ],
    [
      "a one-shot sandbox past its deadline and the grace goes",
      oneShot({ deadline: NOW - 61 }),
      { remove: true, session: false, reason: "past its deadline" },
    ],
    [
      "a one-shot sandbox without a deadline goes once ten minutes old",
      oneShot({ deadline: undefined, createdAt: NOW - 601 }),
      { remove: true, session: false, reason: "old, with no deadline" },
    ],
    ["a young one-shot sandbox without a deadline stays", oneShot({ deadline: undefined }), { remove: false, reason: "running" }],
    ["a one-shot sandbox created just now and not started stays", oneShot({ state: "created" }), { remove: false, reason: "starting" }],
    [
      "a one-shot sandbox created a minute ago and never started goes",
      oneShot({ state: "created", createdAt: NOW - 61 }),
      { remove: true, session: false, reason: "created but never started" },
    ],
    [
      "a one-shot sandbox created 6 s ago and not started stays: a request waits on its start",
      oneShot({ state: "created", createdAt: NOW - 6 }),
      { remove: false, reason: "starting" },
    ],
    [
      "a warm one-shot sandbox created just now and not started stays",
      oneShot({ warm: true, state: "created", createdAt: NOW - 1 }),
      { remove: false, reason: "starting" },
    ],
    [
      "a warm one-shot sandbox never started 6 s after its creation goes (its server died in between)",
      oneShot({ warm: true, state: "created", createdAt: NOW - 6 }),
      { remove: true, session: false, reason: "created but never started" },
    ],
    [
      "a one-shot sandbox that ended five seconds ago stays (its server is reading its exit)",
      oneShot({ state: "ended", endedAt: NOW - 5 }),
      { remove: false, reason: "just ended" },
    ],
    [
      "a one-shot sandbox that ended more than five seconds ago goes",
      oneShot({ state: "ended", endedAt: NOW - 6 }),
      { remove: true, session: false, reason: "ended" },
    ],
    [
      "a one-shot sandbox that ended at an unknown time goes once a minute old",
      oneShot({ state: "ended", createdAt: NOW - 61 }),
      { remove: true, session: false, reason: "ended, at an unknown time" },
    ],
    [
      "a one-shot sandbox that ended at an unknown time stays while young",
      oneShot({ state: "ended", endedAt: 0 }),
      { remove: false, reason: "just ended" },
    ],
    [
      "a warm one-shot sandbox whose runner ended goes at once",
      oneShot({ warm: true, state: "ended", endedAt: NOW }),
      { remove: true, session: false, reason: "warm, and its runner ended" },
    ],
    ["a warm one-shot sandbox waiting stays", oneShot({ warm: true }), { remove: false, reason: "running" }],
  ])("%s", (_name, subject, verdict) => {
    expect(reapVerdict(subject, NOW)).toEqual(verdict);
  });
});
