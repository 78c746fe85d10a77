// Runs aws-cdk-lib's Provider framework runtime (framework.js and its modules, unchanged) for
// tests/provider_runtime.py. Usage: node provider_runtime.js <runtime dir>
//
// Line-delimited JSON on stdin/stdout. Python sends commands:
//   {"run": "onEvent" | "isComplete" | "onTimeout", "event": ...}
// and Node answers each with {"done": true} or {"done": true, "error": "<error payload JSON>"},
// the payload shaped as the Lambda Node.js runtime reports a thrown error. While a command runs,
// the framework's outbound calls become requests to Python, answered with {"result": ...} or
// {"error": {"name", "message"}}:
//   {"invoke": FunctionName, "payload": Payload}      Lambda Invoke
//   {"startExecution": {"stateMachineArn", "input"}}  Step Functions StartExecution
//   {"httpRequest": {"options", "body", "bytes"}}     the PUT to the ResponseURL
// Every message to Python carries "log": what the framework logged since the last message.
"use strict";

const fs = require("fs");
const Module = require("module");
const path = require("path");
const readline = require("readline");
const util = require("util");

// outbound.js requires the AWS SDK v3 clients when it loads (the Lambda runtime provides them;
// this machine has no npm packages). They are used only by the three functions of outbound.js
// replaced below, so empty modules satisfy the requires.
const SDK_CLIENTS = ["@aws-sdk/client-lambda", "@aws-sdk/client-sfn"];
for (const name of SDK_CLIENTS) {
  const stub = new Module(name);
  stub.loaded = true;
  require.cache[name] = stub;
}

// The runtime's files are loaded as Lambda loads them, from /var/task (they are read from the
// runtime dir): the JavaScript stacks in FAILED Reasons, and so the response sizes, are Lambda's.
const TASK = "/var/task";
const RUNTIME_FILES = ["consts.js", "util.js", "outbound.js", "cfn-response.js", "framework.js"];
const resolveFilename = Module._resolveFilename;
Module._resolveFilename = function (request, parent, ...rest) {
  if (SDK_CLIENTS.includes(request)) {
    return request;
  }
  if (parent?.filename?.startsWith(TASK + "/") && request.startsWith("./")) {
    return path.join(TASK, request + ".js");
  }
  return resolveFilename.call(this, request, parent, ...rest);
};

// The framework logs every event; stdout is the protocol, so its log travels inside messages.
let log = [];
for (const level of ["log", "info", "warn", "error", "debug"]) {
  console[level] = (...args) => log.push(util.format(...args));
}
function send(message) {
  process.stdout.write(JSON.stringify({ ...message, log }) + "\n");
  log = [];
}

const runtime = process.argv[2];
for (const file of RUNTIME_FILES) {
  // Each file's requires are loaded before it (the list is in that order).
  const filename = path.join(TASK, file);
  const module = new Module(filename, null);
  module.filename = filename;
  require.cache[filename] = module;
  module._compile(fs.readFileSync(path.join(runtime, file), "utf8"), filename);
  module.loaded = true;
}
const framework = require.cache[path.join(TASK, "framework.js")].exports;
const outbound = require.cache[path.join(TASK, "outbound.js")].exports;

let pending = null; // the resolver of the request Python is answering
function ask(request) {
  return new Promise((resolve, reject) => {
    pending = (answer) => {
      if (answer.error === undefined) {
        resolve(answer.result);
      } else {
        const error = new Error(answer.error.message);
        error.name = answer.error.name;
        reject(error);
      }
    };
    send(request);
  });
}

outbound.invokeFunction = async ({ FunctionName, Payload }) => {
  const result = await ask({ invoke: FunctionName, payload: Payload });
  return { ...result, Payload: new TextEncoder().encode(result.Payload) };
};
outbound.startExecution = (request) => ask({ startExecution: request });
outbound.httpRequest = (options, body) =>
  ask({ httpRequest: { options, body, bytes: Buffer.byteLength(body, "utf8") } });

// What the Lambda Node.js runtime returns for a thrown error (its toRapidResponse).
function errorPayload(error) {
  return JSON.stringify({
    errorType: error.name,
    errorMessage: error.message,
    trace: String(error.stack).split("\n"),
  });
}

// The Lambda Node.js runtime calls a handler as a method of its Runtime object (so stacks say
// "at async Runtime.handler").
class Runtime {
  constructor(handler) {
    this.handler = handler;
  }
}

readline.createInterface({ input: process.stdin }).on("line", (line) => {
  const message = JSON.parse(line);
  if (message.run === undefined) {
    const answer = pending;
    pending = null;
    answer(message);
    return;
  }
  new Runtime(framework[message.run]).handler(message.event).then(
    () => send({ done: true }),
    (error) => send({ done: true, error: errorPayload(error) }),
  );
});
