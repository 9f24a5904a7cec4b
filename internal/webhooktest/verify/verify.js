// Reads {secret, headers, body} as JSON on stdin and verifies the message with
// the Standard Webhooks reference library; exits 1 with the reason when it
// does not verify.
const { Webhook } = require("standardwebhooks");

let input = "";
process.stdin.on("data", (chunk) => (input += chunk));
process.stdin.on("end", () => {
  const { secret, headers, body } = JSON.parse(input);
  try {
    new Webhook(secret).verify(body, headers);
  } catch (err) {
    console.error(String(err && err.message ? err.message : err));
    process.exit(1);
  }
});
