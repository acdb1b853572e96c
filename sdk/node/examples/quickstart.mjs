import { readFileSync } from "node:fs";
import { Paygate, PaygateError } from "@paygate/node";

const paygate = new Paygate({
  baseUrl: process.env.PAYGATE_BASE_URL ?? "https://localhost:8443",
  apiKey: process.env.PAYGATE_API_KEY,
  apiSecret: process.env.PAYGATE_API_SECRET, // every request is signed; the secret never travels
  merchantId: process.env.PAYGATE_MERCHANT_ID,
  auth: "token", // the key is sent only to exchange it for short-lived tokens
  // The sandbox's certificate is self-signed: trust its CA (added to Node's roots).
  ca: readFileSync(process.env.PAYGATE_CA_FILE ?? "../../paygate-data/tls/cert.pem"),
});

const payment = await paygate.payments.create({
  amount: 2500,
  currency: "USD",
  method: "card",
  card: { number: "4242424242424242", exp_month: 12, exp_year: 2030, cvc: "123" },
});
console.log(payment.id, payment.status); // pay_… succeeded

for await (const p of paygate.payments.list({ limit: 50 })) {
  console.log(p.id, p.amount, p.currency, p.status); // every page, fetched as needed
}

try {
  await paygate.payments.retrieve("pay_doesnotexist");
} catch (error) {
  if (!(error instanceof PaygateError)) throw error;
  console.log(error.status, error.code, error.requestId); // 404 not_found req_…
}

console.log(await paygate.balance.retrieve());
paygate.close();
