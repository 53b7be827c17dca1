import { describe, expect, it } from "vitest";
import { podResolvConf } from "./pod-dns.js";

describe("podResolvConf", () => {
  it("writes dnsPolicy None's nameservers, searches and options, as a kubelet does", () => {
    const pod = {
      spec: {
        containers: [],
        dnsPolicy: "None",
        dnsConfig: {
          nameservers: ["127.0.0.1", "10.0.0.10"],
          searches: ["svc.local"],
          options: [{ name: "ndots", value: "2" }, { name: "edns0" }],
        },
      },
    };
    expect(podResolvConf(pod)).toBe("nameserver 127.0.0.1\nnameserver 10.0.0.10\nsearch svc.local\noptions ndots:2 edns0\n");
  });

  it("leaves other policies to the runtime", () => {
    expect(podResolvConf({ spec: { containers: [], dnsPolicy: "ClusterFirst" } })).toBeUndefined();
    expect(podResolvConf({ spec: { containers: [] } })).toBeUndefined();
  });
});
