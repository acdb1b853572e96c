// The hosted checkout page. Its session token and secret arrive in the URL
// fragment (never sent to any server); the final status comes over the
// realtime socket.
import { PaygateCheckout, connectRealtime } from "./paygate.js";

const $ = (id) => document.getElementById(id);
const status = $("status");

function show(text, kind) {
  status.textContent = text;
  status.dataset.state = kind;
}

function money(amount, currency) {
  const decimals = currency === "BTC" ? 8 : currency === "USDT" || currency === "USDC" ? 6 : 2;
  const whole = Math.floor(amount / 10 ** decimals);
  const part = String(amount % 10 ** decimals).padStart(decimals, "0");
  return `${whole}.${part} ${currency}`;
}

async function main() {
  const params = new URLSearchParams(location.hash.slice(1));
  const sessionToken = params.get("token");
  const sessionSecret = params.get("secret");
  // Keep the secret out of the address bar and the history.
  history.replaceState(null, "", location.pathname);
  if (!sessionToken || !sessionSecret) {
    show("This payment link is incomplete.", "error");
    return;
  }
  const checkout = new PaygateCheckout({ sessionToken, sessionSecret });
  const session = await checkout.getSession();
  $("amount").textContent = money(session.amount, session.currency);
  if (session.status !== "open") {
    show(session.status === "complete" ? "succeeded" : session.status, session.status === "complete" ? "succeeded" : "error");
    return;
  }

  const { ws_token } = await checkout.realtimeToken();
  const socket = connectRealtime({
    wsToken: ws_token,
    onEvent(event) {
      if (event.type === "payment.succeeded") show("succeeded", "succeeded");
      if (event.type === "payment.failed") show("declined", "declined");
    },
  });
  await new Promise((resolve) => socket.addEventListener("open", resolve, { once: true }));

  if (session.methods.includes("card")) {
    $("card-form").hidden = false;
    $("card-form").addEventListener("submit", async (event) => {
      event.preventDefault();
      show("processing", "processing");
      const form = new FormData(event.target);
      const [month, year] = String(form.get("expiry")).split("/").map((v) => Number(v.trim()));
      try {
        await checkout.pay({
          method: "card",
          card: { number: String(form.get("number")).replace(/\s+/g, ""), exp_month: month, exp_year: year < 100 ? 2000 + year : year, cvc: String(form.get("cvc")) },
        });
      } catch (error) {
        show(error.detail ?? error.message, "error");
      }
    });
  }
  if (session.methods.includes("crypto")) {
    $("crypto").hidden = false;
    $("crypto-button").addEventListener("click", async () => {
      const paid = await checkout.pay({ method: "crypto" });
      $("crypto-address").textContent = paid.payment?.crypto?.address ?? "";
      show("waiting for the deposit", "processing");
    });
  }
  show("ready", "ready");
}

main().catch((error) => show(error.detail ?? error.message ?? "Something went wrong.", "error"));
