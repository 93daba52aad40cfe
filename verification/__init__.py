"""Verification of documents others signed: PDF, CMS, XML and ASiC checks, the reports that
say their verdicts, and the trust anchors a CA admin adds.

service.verify is the entry point (in a bounded helper for the API, the page and the CLI);
report, verdict and readable say what a check found; pdf, pdf_legacy, cms, xml and asic judge
each format's signatures, with pdf_checks, xmldsig, xmlsafe and asic_container reading them;
trust, anchors, fetching and revocation are what a chain is judged against. api, page and cli
are its adapters, registered by the composition root through views and cli.register. It
imports the platform (kyso), hsm and ca_admin.facade only.
"""
