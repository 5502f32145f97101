--
-- PostgreSQL database dump
--


-- Dumped from database version 15.18 (Debian 15.18-0+deb12u1)
-- Dumped by pg_dump version 15.18 (Debian 15.18-0+deb12u1)

SET statement_timeout = 0;
SET lock_timeout = 0;
SET idle_in_transaction_session_timeout = 0;
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);
SET check_function_bodies = false;
SET xmloption = content;
SET client_min_messages = warning;
SET row_security = off;

SET default_tablespace = '';

SET default_table_access_method = heap;

--
-- Name: calls; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.calls (
    uniqueid character varying NOT NULL,
    status character varying NOT NULL,
    reason character varying,
    detail character varying,
    fingerprint character varying NOT NULL,
    raw_json character varying NOT NULL,
    started_at timestamp without time zone,
    ended_at timestamp without time zone,
    call_type character varying,
    direction character varying,
    outcome character varying,
    disposition character varying,
    duration integer,
    billsec integer,
    client_e164 character varying,
    phone_key character varying,
    employee_user_id character varying,
    employee_label character varying,
    scenario_row integer,
    client_status character varying,
    changed_after_sync character varying,
    attached_module character varying,
    attached_id character varying,
    ambiguous boolean NOT NULL,
    recording_url character varying,
    utm_source character varying,
    utm_medium character varying,
    utm_campaign character varying,
    utm_term character varying,
    utm_content character varying,
    client_id character varying,
    first_seen_at timestamp without time zone NOT NULL,
    updated_at timestamp without time zone NOT NULL,
    synced_at timestamp without time zone,
    attempts integer NOT NULL,
    run_id character varying
);


--
-- Name: crm_index; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.crm_index (
    module character varying NOT NULL,
    id character varying NOT NULL,
    owner_id character varying NOT NULL,
    modified_time timestamp without time zone NOT NULL,
    phones_json character varying NOT NULL,
    phone_keys character varying NOT NULL,
    converted boolean NOT NULL,
    converted_contact_id character varying,
    converted_deal_id character varying,
    converted_at timestamp without time zone,
    stage character varying,
    amount double precision,
    closing_date character varying,
    contact_id character varying,
    name character varying,
    lead_status character varying,
    utm_json character varying NOT NULL,
    sync_key character varying,
    deleted boolean NOT NULL
);


--
-- Name: crm_writes; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.crm_writes (
    sync_key character varying NOT NULL,
    uniqueid character varying NOT NULL,
    module character varying NOT NULL,
    op character varying NOT NULL,
    kind character varying NOT NULL,
    owner_id character varying,
    target_id character varying,
    zoho_id character varying,
    status character varying NOT NULL,
    attempts integer NOT NULL,
    error_code character varying,
    error_message character varying,
    payload_json character varying NOT NULL,
    created_at timestamp without time zone NOT NULL,
    updated_at timestamp without time zone NOT NULL
);


--
-- Name: cursors; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.cursors (
    name character varying NOT NULL,
    "position" timestamp without time zone NOT NULL,
    updated_at timestamp without time zone NOT NULL
);


--
-- Name: quarantine; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.quarantine (
    row_hash character varying NOT NULL,
    uniqueid character varying,
    reason character varying NOT NULL,
    detail character varying NOT NULL,
    raw_json character varying NOT NULL,
    created_at timestamp without time zone NOT NULL,
    requeued_at timestamp without time zone
);


--
-- Name: run_leases; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.run_leases (
    name character varying NOT NULL,
    holder character varying,
    label character varying,
    acquired_at timestamp without time zone,
    heartbeat_at timestamp without time zone,
    expires_at timestamp without time zone
);


--
-- Name: runs; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.runs (
    run_id character varying NOT NULL,
    flow character varying NOT NULL,
    started_at timestamp without time zone NOT NULL,
    finished_at timestamp without time zone,
    window_start timestamp without time zone,
    window_end timestamp without time zone,
    status character varying NOT NULL,
    summary_json character varying NOT NULL
);


--
-- Name: webhook_inbox; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.webhook_inbox (
    event_key character varying NOT NULL,
    event character varying NOT NULL,
    uniqueid character varying NOT NULL,
    row_json character varying NOT NULL,
    received_at timestamp without time zone NOT NULL,
    status character varying NOT NULL,
    outcome character varying,
    detail character varying,
    zoho_id character varying,
    attempts integer NOT NULL,
    processed_at timestamp without time zone
);


--
-- Name: zoho_tokens; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.zoho_tokens (
    name character varying NOT NULL,
    token_enc character varying,
    fingerprint character varying,
    api_domain character varying,
    expires_at timestamp without time zone,
    minted_at timestamp without time zone,
    mints integer NOT NULL,
    refresh_owner character varying,
    refresh_until timestamp without time zone
);


--
-- Name: zoho_users; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.zoho_users (
    id character varying NOT NULL,
    email character varying NOT NULL,
    full_name character varying NOT NULL,
    active boolean NOT NULL,
    role character varying
);


--
-- Data for Name: calls; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.calls VALUES ('release1-a', 'pending', NULL, NULL, 'a2237f57016a1825155742c1caee7e5b5ef4f812c5f3b893105ed299a2cb7919', '{"call_type":"in","calldate":"2026-03-02 10:00:00","caller":"+380501112233","disposition":"ANSWERED","duration":60,"uniqueid":"release1-a"}', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, false, NULL, NULL, NULL, NULL, NULL, NULL, NULL, '2026-03-02 09:00:00', '2026-03-02 09:00:00', NULL, 0, 'run-1');
INSERT INTO public.calls VALUES ('release1-b', 'pending', NULL, NULL, '09ae5df6af99aea4502d1a40b7e0ed3e80ee63e05c0f5ef54ed4e06a74f78338', '{"call_type":"in","calldate":"2026-03-02 10:05:00","caller":"+380501112244","disposition":"NO ANSWER","duration":0,"uniqueid":"release1-b"}', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, false, NULL, NULL, NULL, NULL, NULL, NULL, NULL, '2026-03-02 09:00:00', '2026-03-02 09:00:00', NULL, 0, 'run-1');


--
-- Data for Name: crm_index; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.crm_index VALUES ('Leads', '5000000000000009001', '1', '2026-03-02 09:00:00', '[]', ' 380501112233 ', false, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, '{}', 'release1-a/lead', false);


--
-- Data for Name: crm_writes; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.crm_writes VALUES ('release1-a/lead', 'release1-a', 'Leads', 'insert', 'lead', NULL, NULL, '5000000000000009001', 'success', 1, NULL, NULL, '{}', '2026-03-02 09:00:00', '2026-03-02 09:00:00');


--
-- Data for Name: cursors; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.cursors VALUES ('ingest', '2026-03-02 09:00:00', '2026-03-02 09:00:00');


--
-- Data for Name: quarantine; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.quarantine VALUES ('a21f6bcfadc9ee9e8143ee63a0bb9a0518ef062f829a65519fcc05bf76e7654d', NULL, 'missing_call_id', 'the row has no uniqueid', '{"calldate":"2026-03-02 10:06:00"}', '2026-03-02 09:00:00', NULL);


--
-- Data for Name: run_leases; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.run_leases VALUES ('callsync:runs', NULL, NULL, NULL, NULL, NULL);


--
-- Data for Name: runs; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.runs VALUES ('run-1', 'sync', '2026-03-02 09:00:00', NULL, NULL, NULL, 'success', '{}');


--
-- Data for Name: webhook_inbox; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.webhook_inbox VALUES ('pickup:release1-c', 'pickup', 'release1-c', '{}', '2026-03-02 09:00:00', 'done', 'lead_created', NULL, NULL, 1, NULL);


--
-- Data for Name: zoho_tokens; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.zoho_tokens VALUES ('zoho:release1', 'sealed', 'fp', 'https://www.zohoapis.eu', '2026-03-02 09:55:00', '2026-03-02 09:00:00', 3, NULL, NULL);


--
-- Data for Name: zoho_users; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.zoho_users VALUES ('1', 'top@acme.test', 'Tamara Top', true, NULL);


--
-- Name: calls calls_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.calls
    ADD CONSTRAINT calls_pkey PRIMARY KEY (uniqueid);


--
-- Name: crm_index crm_index_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.crm_index
    ADD CONSTRAINT crm_index_pkey PRIMARY KEY (module, id);


--
-- Name: crm_writes crm_writes_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.crm_writes
    ADD CONSTRAINT crm_writes_pkey PRIMARY KEY (sync_key);


--
-- Name: cursors cursors_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.cursors
    ADD CONSTRAINT cursors_pkey PRIMARY KEY (name);


--
-- Name: quarantine quarantine_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.quarantine
    ADD CONSTRAINT quarantine_pkey PRIMARY KEY (row_hash);


--
-- Name: run_leases run_leases_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.run_leases
    ADD CONSTRAINT run_leases_pkey PRIMARY KEY (name);


--
-- Name: runs runs_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.runs
    ADD CONSTRAINT runs_pkey PRIMARY KEY (run_id);


--
-- Name: webhook_inbox webhook_inbox_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.webhook_inbox
    ADD CONSTRAINT webhook_inbox_pkey PRIMARY KEY (event_key);


--
-- Name: zoho_tokens zoho_tokens_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.zoho_tokens
    ADD CONSTRAINT zoho_tokens_pkey PRIMARY KEY (name);


--
-- Name: zoho_users zoho_users_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.zoho_users
    ADD CONSTRAINT zoho_users_pkey PRIMARY KEY (id);


--
-- Name: ix_calls_phone_key; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ix_calls_phone_key ON public.calls USING btree (phone_key);


--
-- Name: ix_calls_reason; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ix_calls_reason ON public.calls USING btree (reason);


--
-- Name: ix_calls_started_at; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ix_calls_started_at ON public.calls USING btree (started_at);


--
-- Name: ix_calls_status; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ix_calls_status ON public.calls USING btree (status);


--
-- Name: ix_crm_index_phone_keys; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ix_crm_index_phone_keys ON public.crm_index USING btree (phone_keys);


--
-- Name: ix_crm_writes_status; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ix_crm_writes_status ON public.crm_writes USING btree (status);


--
-- Name: ix_crm_writes_uniqueid; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ix_crm_writes_uniqueid ON public.crm_writes USING btree (uniqueid);


--
-- Name: ix_crm_writes_zoho_id; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ix_crm_writes_zoho_id ON public.crm_writes USING btree (zoho_id);


--
-- Name: ix_quarantine_reason; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ix_quarantine_reason ON public.quarantine USING btree (reason);


--
-- Name: ix_quarantine_uniqueid; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ix_quarantine_uniqueid ON public.quarantine USING btree (uniqueid);


--
-- Name: ix_webhook_inbox_event; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ix_webhook_inbox_event ON public.webhook_inbox USING btree (event);


--
-- Name: ix_webhook_inbox_status; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ix_webhook_inbox_status ON public.webhook_inbox USING btree (status);


--
-- Name: ix_webhook_inbox_uniqueid; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ix_webhook_inbox_uniqueid ON public.webhook_inbox USING btree (uniqueid);


--
-- PostgreSQL database dump complete
--


