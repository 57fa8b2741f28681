// cmdscope plugin for OpenCode: policy decisions before bash runs, outcome records after.
//
// Installed by `cmdscope integrations install opencode [--project|--user]`. It starts one
// long-lived `cmdscope hook opencode-bridge` per OpenCode process and talks to it with one JSON
// line per request, so a tool call costs a pipe round trip instead of a Python start.
//   tool.execute.before  asks for a decision; throws to block a denied bash command
//   shell.env            injects TRACEPARENT / BAGGAGE / CMDSCOPE_* so commands join the trace
//   tool.execute.after   records the outcome with metadata.exit (OpenCode's real exit code)
//   event                records permission requests the user rejected (permission.replied)
// A bridge killed mid-session is started again on the next request (up to MAX_RESTARTS times).
// If the bridge cannot start or answer, tool calls are allowed with a warning, unless
// CMDSCOPE_GUARD_FAIL=closed. See docs/integrations.md.
import type { Plugin } from "@opencode-ai/plugin"
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process"
import { createInterface } from "node:readline"

// Replaced by `cmdscope integrations install opencode` with the interpreter that installed it.
const DEFAULT_COMMAND: string[] = ["cmdscope", "hook", "opencode-bridge"] // cmdscope:command
const SHELL_TOOLS = new Set(["bash", "shell"])
// Not a positive number (unset, "10s", "-1"): the default, never a timer that fires at once.
const RAW_TIMEOUT_MS = Number(process.env.CMDSCOPE_BRIDGE_TIMEOUT_MS ?? "10000")
const TIMEOUT_MS = Number.isFinite(RAW_TIMEOUT_MS) && RAW_TIMEOUT_MS > 0 ? RAW_TIMEOUT_MS : 10000
const MAX_RESTARTS = 5 // a bridge that keeps dying is broken: stop restarting it

type Answer = {
  id?: number; action?: "allow" | "warn" | "deny"; reason?: string; env?: Record<string, string>; error?: string
  lost?: boolean // the bridge died before answering
}
type Pending = { resolve: (a: Answer) => void; timer: ReturnType<typeof setTimeout> }

function bridgeCommand(): string[] {
  const raw = process.env.CMDSCOPE_COMMAND
  if (!raw) return DEFAULT_COMMAND
  try {
    const parsed: unknown = JSON.parse(raw)
    if (Array.isArray(parsed) && parsed.every((p) => typeof p === "string")) return parsed as string[]
  } catch {
    // a plain command name
  }
  return [raw, "hook", "opencode-bridge"]
}

class Bridge {
  private child: ChildProcessWithoutNullStreams | undefined
  private nextId = 1
  private waiting = new Map<number, Pending>()
  private broken: string | undefined
  private restarts = 0
  private stopping = false

  private start(): ChildProcessWithoutNullStreams | undefined {
    if (this.child || this.broken) return this.child
    const [cmd, ...args] = bridgeCommand()
    try {
      const child = spawn(cmd, args, { stdio: ["pipe", "pipe", "pipe"], env: process.env })
      child.on("error", (err) => this.fail(`cannot start ${cmd}: ${err.message}`))
      child.on("exit", (code, signal) => this.exited(child, `bridge exited with ${signal ?? `code ${code}`}`))
      child.stderr.on("data", (chunk) => process.stderr.write(`cmdscope: ${chunk}`))
      child.stdin.on("error", () => {}) // EPIPE to a killed bridge: its "exit" handles it
      createInterface({ input: child.stdout }).on("line", (line) => {
        let answer: Answer
        try {
          answer = JSON.parse(line) as Answer
        } catch {
          return
        }
        const pending = answer.id === undefined ? undefined : this.waiting.get(answer.id)
        if (pending && answer.id !== undefined) {
          clearTimeout(pending.timer)
          this.waiting.delete(answer.id)
          pending.resolve(answer)
        }
      })
      this.child = child
    } catch (err) {
      this.fail(`cannot start ${cmd}: ${String(err)}`)
    }
    return this.child
  }

  // Killed or crashed mid-session: answer whoever waits, and let the next request start a new
  // bridge (its records of calls already under way are opened afresh by their "after").
  private exited(child: ChildProcessWithoutNullStreams, why: string): void {
    if (this.child !== child) return
    if (this.stopping || ++this.restarts > MAX_RESTARTS) return this.fail(why)
    this.child = undefined
    this.answerAll(why, true)
  }

  private fail(why: string): void {
    this.broken = why
    this.child = undefined
    this.answerAll(why, false)
  }

  private answerAll(why: string, lost: boolean): void {
    for (const [id, pending] of this.waiting) {
      clearTimeout(pending.timer)
      pending.resolve({ id, error: why, lost })
    }
    this.waiting.clear()
  }

  // A request the bridge died under is sent once more, to the bridge started in its place.
  async request(msg: Record<string, unknown>): Promise<Answer> {
    const answer = await this.send(msg)
    return answer.lost ? this.send(msg) : answer
  }

  private send(msg: Record<string, unknown>): Promise<Answer> {
    const child = this.start()
    if (!child) return Promise.resolve({ error: this.broken ?? "bridge not running" })
    const id = this.nextId++
    return new Promise<Answer>((resolve) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id)
        resolve({ id, error: `no answer within ${TIMEOUT_MS} ms` })
      }, TIMEOUT_MS)
      this.waiting.set(id, { resolve, timer })
      child.stdin.write(JSON.stringify({ ...msg, id }) + "\n")
    })
  }

  stop(): void {
    this.stopping = true
    this.child?.stdin.end()
  }
}

function failClosed(): boolean {
  return (process.env.CMDSCOPE_GUARD_FAIL ?? "").toLowerCase() === "closed"
}

function commandOf(args: unknown): string | undefined {
  if (args && typeof args === "object" && "command" in args) {
    const command = (args as { command: unknown }).command
    if (typeof command === "string") return command
  }
  return undefined
}

export const CmdscopePlugin: Plugin = async ({ directory }) => {
  const bridge = new Bridge()
  const commands = new Map<string, string>() // permission id -> command, to record rejections

  return {
    "tool.execute.before": async (input, output) => {
      const command = commandOf(output.args)
      if (!SHELL_TOOLS.has(input.tool) || command === undefined) return
      const answer = await bridge.request({
        op: "before", session: input.sessionID, call: input.callID, tool: input.tool, command,
        cwd: typeof output.args?.workdir === "string" ? output.args.workdir : directory,
      })
      if (answer.error) {
        if (failClosed()) throw new Error(`cmdscope.bridge-error: ${answer.error}; denied because CMDSCOPE_GUARD_FAIL=closed`)
        console.warn(`cmdscope: ${answer.error}; the command was allowed`)
        return
      }
      if (answer.action === "deny") throw new Error(`cmdscope denied this command: ${answer.reason}`)
      if (answer.action === "warn") console.warn(`cmdscope warning: ${answer.reason}`)
    },

    "shell.env": async (input, output) => {
      const answer = await bridge.request({ op: "env", session: input.sessionID, call: input.callID, cwd: input.cwd })
      if (answer.env) Object.assign(output.env, answer.env)
    },

    "tool.execute.after": async (input, output) => {
      const command = commandOf(input.args)
      if (!SHELL_TOOLS.has(input.tool) || command === undefined) return
      const metadata: Record<string, unknown> = output.metadata ?? {}
      await bridge.request({
        op: "after", session: input.sessionID, call: input.callID, tool: input.tool, command,
        cwd: typeof input.args?.workdir === "string" ? input.args.workdir : directory,
        exit: typeof metadata.exit === "number" ? metadata.exit : null,
        interrupted: metadata.interrupted === true,
        output: typeof output.output === "string" ? output.output.slice(-4096) : "",
      })
    },

    event: async ({ event }) => {
      // The event names and shapes differ between OpenCode versions; read them defensively.
      const e = event as unknown as { type: string; properties?: Record<string, unknown>; data?: Record<string, unknown> }
      const body = e.properties ?? e.data ?? {}
      if (e.type === "permission.updated" || e.type === "permission.asked") {
        const id = String(body.id ?? "")
        const pattern = body.pattern ?? body.patterns
        const command = Array.isArray(pattern) ? pattern.join(" ") : typeof pattern === "string" ? pattern : ""
        if (id && command) commands.set(id, command)
      } else if (e.type === "permission.replied") {
        const id = String(body.permissionID ?? body.requestID ?? "")
        const response = String(body.response ?? body.reply ?? "")
        const command = commands.get(id)
        commands.delete(id)
        if (command && response === "reject") {
          await bridge.request({ op: "permission", session: body.sessionID, call: id, tool: "bash", command, response })
        }
      } else if (e.type === "server.instance.disposed" || e.type === "global.disposed") {
        bridge.stop()
      }
    },
  }
}
