"""The customer's onboarding pages: ``views`` (add a number, type the code, watch it become
registered), ``forms`` (the same forms validate the JSON API's bodies), ``messages`` (what the
customer is told after each step) and ``urls`` (included by host projects as
``nxwa_onboarding.urls``)."""
